"""Change review on the local cluster: plain `pulumi preview`, `database-operator preview` of a proposed change,
and the approval gate."""

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, wait_for
from tests.e2e.databases import (
    CHANGES,
    ERROR,
    NO_CHANGES,
    database,
    event_reasons,
    preview,
    wait_ready,
    wait_statefulset,
)

APPROVAL = "database.example.com/approved-plan"


def fingerprint(state_dir: Path, stack: str) -> dict[str, str]:
    """The stack's configuration and its state in the backend, to show that a preview changed neither."""
    files = [
        state_dir / "workspaces" / stack / f"Pulumi.{stack}.yaml",
        *sorted((state_dir / "backend" / ".pulumi").rglob(f"{stack}.json*")),
    ]
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files if path.is_file()}


def test_preview_of_unchanged_scaled_and_version_changed_databases(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, state_dir: Path
) -> None:
    backup = {"enabled": True}
    manifest = database("shop", namespace, backup=backup)
    new = preview(operator, manifest)
    assert new.returncode == CHANGES, new.stderr
    assert f"Database {namespace}/shop: 16 to create" in new.stdout  # 13 objects + 3 for backups
    assert "+  create   StatefulSet/shop" in new.stdout
    assert kubectl.get("statefulset", "shop", namespace) is None  # previewing created nothing
    assert not (state_dir / "workspaces" / f"{namespace}.shop").exists()

    kubectl.apply(manifest)
    wait_ready(kubectl, "shop", namespace)
    stack = f"{namespace}.shop"
    before = fingerprint(state_dir, stack)
    assert before

    unchanged = preview(operator, manifest)
    assert unchanged.returncode == NO_CHANGES, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout.startswith(f"Database {namespace}/shop: no changes")

    scaled = preview(operator, database("shop", namespace, replicas=3, backup=backup))
    assert scaled.returncode == CHANGES, scaled.stderr
    assert "~  update   StatefulSet/shop: spec.replicas" in scaled.stdout
    assert "DATA LOSS" not in scaled.stdout

    upgraded = preview(operator, database("shop", namespace, version="8.4", backup=backup), "-o", "json")
    assert upgraded.returncode == CHANGES, upgraded.stderr
    [report] = json.loads(upgraded.stdout)
    [change] = [c for c in report["changes"] if c["resource"] == "StatefulSet/shop"]
    assert change["action"] == "update"
    assert "spec.template.spec.containers[0].image" in change["fields"]
    assert not report["dataLoss"]

    # Turning backups off keeps the backup volume with every dump on it (issue 16): only the stack lets go of it.
    backups_off = preview(operator, database("shop", namespace))
    assert backups_off.returncode == CHANGES, backups_off.stderr
    assert "-  delete   PersistentVolumeClaim/shop-backup (left in the cluster: retainOnDelete)" in backups_off.stdout
    assert "DATA LOSS" not in backups_off.stdout
    assert "-  delete   CronJob/shop-backup" in backups_off.stdout

    shrunk = preview(operator, database("shop", namespace, storage={"size": "512Mi"}, backup=backup))
    assert shrunk.returncode == ERROR
    assert "spec.storage.size: storage cannot shrink (from 1Gi to 512Mi)" in shrunk.stderr

    # None of it touched the Database, its objects, its stack configuration or its stack.
    assert fingerprint(state_dir, stack) == before
    db = kubectl.get("database", "shop", namespace)
    assert db is not None and db["spec"]["replicas"] == 1 and db["spec"]["version"] == "8.0"
    sts = kubectl.get("statefulset", "shop", namespace)
    assert sts is not None and sts["spec"]["replicas"] == 1
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "mysql:8.0"


def test_plain_pulumi_preview_shows_what_the_operator_would_do(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, state_dir: Path
) -> None:
    kubectl.apply(database("plain", namespace, driftPolicy="Report"))
    wait_ready(kubectl, "plain", namespace)
    stack = f"{namespace}.plain"
    env = {**operator.env, "PULUMI_BACKEND_URL": f"file://{state_dir / 'backend'}"}
    command = [
        "pulumi",
        "preview",
        "--stack",
        stack,
        "--refresh",
        "--diff",
        "--non-interactive",
        "--config-file",
        str(state_dir / "workspaces" / stack / f"Pulumi.{stack}.yaml"),
    ]

    def pulumi_preview() -> str:
        result = subprocess.run(
            command, cwd=REPO / "program", env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    in_sync = pulumi_preview()
    assert "to update" not in in_sync and "to create" not in in_sync and "unchanged" in in_sync

    kubectl.run("scale", "statefulset", "plain", "-n", namespace, "--replicas=2")
    drifted = pulumi_preview()
    assert "1 to update" in drifted
    assert "replicas: 2 => 1" in drifted


def annotate(kubectl: Kubectl, namespace: str, name: str, plan_id: str) -> None:
    kubectl.run("annotate", "database", name, "-n", namespace, f"{APPROVAL}={plan_id}", "--overwrite")


def awaiting_plan(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    """The plan in status once it is for the Database's current generation and waits for approval."""

    def planned() -> dict[str, Any] | None:
        db = kubectl.get("database", name, namespace) or {}
        plan = (db.get("status") or {}).get("plan") or {}
        current = plan.get("generation") == db.get("metadata", {}).get("generation")
        return plan if current and plan.get("state") == "AwaitingApproval" else None

    return wait_for(f"a plan awaiting approval for {namespace}/{name}", planned, timeout=120)


def test_the_gate_holds_until_the_plan_is_approved_and_refuses_a_stale_approval(
    kubectl: Kubectl, namespace: str
) -> None:
    gated = {"updatePolicy": "RequireApproval"}
    kubectl.apply(database("gated", namespace, **gated))
    created = awaiting_plan(kubectl, namespace, "gated")
    # Four Secrets of accounts, the CA's and the server certificate's Secrets, the ConfigMap, the CA's ConfigMap,
    # three Services, the StatefulSet, the NetworkPolicy.
    assert created["created"] == 13 and created["dataLoss"] is False
    assert kubectl.get("database", "gated", namespace)["status"]["phase"] == "AwaitingApproval"
    assert "PlanReady" in event_reasons(kubectl, "gated", namespace)
    assert kubectl.get("statefulset", "gated", namespace) is None  # the gate holds: nothing created

    annotate(kubectl, namespace, "gated", created["id"])
    wait_ready(kubectl, "gated", namespace)
    assert kubectl.get("database", "gated", namespace)["status"]["plan"]["state"] == "Applied"

    kubectl.apply(database("gated", namespace, replicas=2, **gated))
    first = awaiting_plan(kubectl, namespace, "gated")
    assert first["changes"] == [{"resource": "StatefulSet/gated", "action": "update", "fields": ["spec.replicas"]}]
    kubectl.apply(database("gated", namespace, replicas=3, **gated))
    second = awaiting_plan(kubectl, namespace, "gated")
    assert second["id"] != first["id"]

    annotate(kubectl, namespace, "gated", first["id"])  # approves a plan whose spec has changed since
    wait_for(
        "the stale approval to be refused", lambda: "ApprovalRefused" in event_reasons(kubectl, "gated", namespace)
    )
    assert kubectl.get("statefulset", "gated", namespace)["spec"]["replicas"] == 1
    assert kubectl.get("database", "gated", namespace)["status"]["plan"]["id"] == second["id"]

    annotate(kubectl, namespace, "gated", second["id"])
    wait_statefulset(kubectl, "gated", namespace, replicas=3)
    db = wait_ready(kubectl, "gated", namespace)
    assert db["status"]["plan"] == {**second, "state": "Applied"}

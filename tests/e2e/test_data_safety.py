"""No operation loses data or credentials (issue 16): one regression test per finding, against the real operator,
the real Pulumi engine and the kwok cluster.

kwok runs no containers, so "the pods keep running" is shown by their uids (a restarted StatefulSet pod is a new
object); a database actually starting on its old data needs the real node.
"""

import base64
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.e2e.cluster import Kubectl, OperatorProcess, wait_for
from tests.e2e.databases import (
    CHANGES,
    Volumes,
    condition,
    database,
    event_reasons,
    preview,
    secrets_of,
    uid,
    wait_ready,
    wait_statefulset,
)

WEBHOOK_CONFIGURATION = "database.example.com"
T = TypeVar("T")


def requested(kubectl: Kubectl, claim: str, namespace: str) -> str | None:
    found = kubectl.get("pvc", claim, namespace)
    return found["spec"]["resources"]["requests"]["storage"] if found else None


def bound(kubectl: Kubectl, claim: str, namespace: str) -> bool:
    found = kubectl.get("pvc", claim, namespace)
    return bool(found and found.get("status", {}).get("phase") == "Bound")


def webhooks_registered(kubectl: Kubectl) -> bool:
    found = kubectl.run("get", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "-o", "json", check=False)
    return found.returncode == 0 and bool(json.loads(found.stdout).get("webhooks"))


def force_drift_check(kubectl: Kubectl, name: str, namespace: str, done: Callable[[], T | None]) -> T:
    """Edit the Database's headless Service out of band (the watches report it as possible drift) until `done`:
    an operator that has just started may list the objects after an edit and so never see it."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        marker = json.dumps({"metadata": {"annotations": {"e2e.example.com/edited": uuid.uuid4().hex}}})
        kubectl.run("patch", "service", f"{name}-headless", "-n", namespace, "--type=merge", "-p", marker)
        try:
            return wait_for("the drift check's outcome", done, timeout=15)
        except AssertionError:
            continue
    raise AssertionError(f"no drift check of {namespace}/{name} had the expected outcome within 120s")


# -- 1. growing storage keeps the volumes and the pods ------------------------------------------------------------


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_growing_storage_keeps_the_volumes_and_the_pods(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, volumes: Volumes, policy: str
) -> None:
    expandable = volumes.storage_class(expandable=True)
    claims = ["data-grow-0", "data-grow-1", "grow-backup"]
    for claim in claims:
        volumes.bound_in_advance(expandable, namespace, claim)
    storage = {"size": "1Gi", "class": expandable}
    backup = {"enabled": True, "storageSize": "1Gi"}
    kubectl.apply(database("grow", namespace, replicas=2, storage=storage, backup=backup, deletionPolicy=policy))
    wait_ready(kubectl, "grow", namespace)
    for claim in claims:
        wait_for(f"{claim} to be bound", lambda claim=claim: bound(kubectl, claim, namespace))
    claim_uids = {claim: uid(kubectl, "pvc", claim, namespace) for claim in claims}
    pod_uids = {pod: uid(kubectl, "pod", pod, namespace) for pod in ("grow-0", "grow-1")}
    statefulset_uid = uid(kubectl, "statefulset", "grow", namespace)

    grown = {"size": "2Gi", "class": expandable}
    manifest = database(
        "grow", namespace, replicas=2, storage=grown, backup={**backup, "storageSize": "3Gi"}, deletionPolicy=policy
    )
    reviewed = preview(operator, manifest)  # what `database-operator preview` says first: nothing is replaced
    assert reviewed.returncode == CHANGES, reviewed.stderr
    assert "DATA LOSS" not in reviewed.stdout and "replace" not in reviewed.stdout, reviewed.stdout
    assert "~  grow     data volumes from 1Gi to 2Gi in place" in reviewed.stdout
    assert "~  grow     the backup volume from 1Gi to 3Gi in place" in reviewed.stdout
    kubectl.apply(manifest)

    for claim, size in [("data-grow-0", "2Gi"), ("data-grow-1", "2Gi"), ("grow-backup", "3Gi")]:
        wait_for(
            f"{claim} to request {size}", lambda claim=claim, size=size: requested(kubectl, claim, namespace) == size
        )

    def recreated_with_the_new_template() -> bool:
        sts = kubectl.get("statefulset", "grow", namespace)
        template = (sts or {}).get("spec", {}).get("volumeClaimTemplates", [{}])[0]
        return bool(sts) and template.get("spec", {}).get("resources", {}).get("requests", {}).get("storage") == "2Gi"

    wait_for("the StatefulSet with the 2Gi template", recreated_with_the_new_template, timeout=90)
    db = wait_ready(kubectl, "grow", namespace)
    assert condition(db, "Reconciled")["status"] == "True"
    assert uid(kubectl, "statefulset", "grow", namespace) != statefulset_uid  # re-created ...
    assert {claim: uid(kubectl, "pvc", claim, namespace) for claim in claims} == claim_uids  # ... no volume deleted
    assert {pod: uid(kubectl, "pod", pod, namespace) for pod in pod_uids} == pod_uids  # ... no pod restarted
    adopted = kubectl.get("pod", "grow-0", namespace)["metadata"]["ownerReferences"]
    assert [owner["uid"] for owner in adopted] == [uid(kubectl, "statefulset", "grow", namespace)]


def test_growth_the_class_cannot_make_is_refused_up_front(kubectl: Kubectl, namespace: str, volumes: Volumes) -> None:
    fixed = volumes.storage_class(expandable=False)
    kubectl.apply(database("fixed", namespace, storage={"size": "1Gi", "class": fixed}))
    wait_ready(kubectl, "fixed", namespace)
    refused = kubectl.apply(database("fixed", namespace, storage={"size": "2Gi", "class": fixed}), check=False)
    assert refused.returncode != 0
    assert f"spec.storage.size: cannot grow from 1Gi to 2Gi: StorageClass {fixed} does not allow volume expansion" in (
        refused.stderr
    )
    assert kubectl.get("database", "fixed", namespace)["spec"]["storage"]["size"] == "1Gi"


# -- 2. and 3. passwords survive a lost state directory; Retain keeps the credentials -------------------------------


def test_lost_state_then_drift_correction_keeps_every_secret_byte_identical(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, state_dir: Path
) -> None:
    kubectl.apply(database("keep", namespace, replicas=2))
    wait_ready(kubectl, "keep", namespace)
    before = secrets_of(kubectl, "keep", namespace)
    assert len(base64.b64decode(before["replication"]["password"])) >= 32  # real passwords are compared

    operator.stop()
    for state in ("backend", "workspaces"):  # every stack's state and settings, the encrypted passwords included
        shutil.rmtree(state_dir / state, ignore_errors=True)
    operator.start()
    force_drift_check(kubectl, "keep", namespace, lambda: "DriftCorrected" in event_reasons(kubectl, "keep", namespace))

    assert secrets_of(kubectl, "keep", namespace) == before


def test_a_lost_secret_with_lost_state_is_refused_never_replaced_by_a_new_password(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, state_dir: Path
) -> None:
    kubectl.apply(database("lost", namespace))
    wait_ready(kubectl, "lost", namespace)
    wait_for("the data volume claim", lambda: kubectl.get("pvc", "data-lost-0", namespace))
    credentials = kubectl.get("secret", "lost-credentials", namespace)["data"]

    operator.stop()
    for state in ("backend", "workspaces"):
        shutil.rmtree(state_dir / state, ignore_errors=True)
    kubectl.run("delete", "secret", "lost-replication", "-n", namespace)
    operator.start()

    def refused() -> dict[str, Any] | None:
        conditions = (kubectl.get("database", "lost", namespace) or {}).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Reconciled" and c["reason"] == "CredentialsMissing"), None)

    reconciled = force_drift_check(kubectl, "lost", namespace, refused)
    assert reconciled["message"].startswith("Secret lost-replication (key password) is gone")
    assert "data-lost-0" in reconciled["message"]
    assert kubectl.get("secret", "lost-replication", namespace) is None  # no new password was made up
    assert kubectl.get("secret", "lost-credentials", namespace)["data"] == credentials


def test_retain_keeps_the_credentials_and_a_recreated_database_reuses_them(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("kept", namespace, deletionPolicy="Retain"))
    wait_ready(kubectl, "kept", namespace)
    wait_for("the data volume claim", lambda: kubectl.get("pvc", "data-kept-0", namespace))
    before = secrets_of(kubectl, "kept", namespace)
    volume = uid(kubectl, "pvc", "data-kept-0", namespace)

    kubectl.run("delete", "db", "kept", "-n", namespace, "--timeout=120s")
    wait_for("the StatefulSet to be deleted", lambda: kubectl.get("statefulset", "kept", namespace) is None)
    assert secrets_of(kubectl, "kept", namespace) == before  # kept with the volume
    assert uid(kubectl, "pvc", "data-kept-0", namespace) == volume

    kubectl.apply(database("kept", namespace, deletionPolicy="Retain"))
    wait_ready(kubectl, "kept", namespace)
    assert secrets_of(kubectl, "kept", namespace) == before  # the old data's passwords, not new ones
    assert uid(kubectl, "pvc", "data-kept-0", namespace) == volume
    owners = kubectl.get("statefulset", "kept", namespace)["metadata"]["ownerReferences"]
    assert [owner["uid"] for owner in owners] == [kubectl.get("database", "kept", namespace)["metadata"]["uid"]]


# -- 4. names and ownership ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x-ro", "x-headless"])
def test_a_name_that_collides_with_another_databases_objects_is_refused(
    kubectl: Kubectl, namespace: str, name: str
) -> None:
    kubectl.apply(database("x", namespace))
    refused = kubectl.apply(database(name, namespace), check=False)
    assert refused.returncode != 0
    assert (
        f"metadata.name: a Database '{name}' would have the same Service {name} as the Database 'x'" in refused.stderr
    )
    assert kubectl.get("database", name, namespace) is None


def test_a_foreign_service_is_not_adopted_and_the_database_can_still_be_deleted(
    kubectl: Kubectl, namespace: str
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "taken", "namespace": namespace, "labels": {"team": "payments"}},
        "spec": {"selector": {"app": "payments"}, "ports": [{"port": 8080}]},
    }
    kubectl.apply(foreign)
    before = kubectl.get("service", "taken", namespace)

    kubectl.apply(database("taken", namespace))

    def refused() -> dict[str, Any] | None:
        db = kubectl.get("database", "taken", namespace)
        conditions = (db or {}).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Reconciled" and c["reason"] == "ForeignObject"), None)

    reconciled = wait_for("the ForeignObject condition", refused)
    assert reconciled["status"] == "False"
    assert reconciled["message"].startswith("Service taken exists and is not this Database's")
    assert "ForeignObject" in event_reasons(kubectl, "taken", namespace)
    after = kubectl.get("service", "taken", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # untouched
    assert kubectl.get("statefulset", "taken", namespace) is None

    kubectl.run("delete", "db", "taken", "-n", namespace, "--timeout=120s")
    assert kubectl.get("service", "taken", namespace)["metadata"]["uid"] == before["metadata"]["uid"]


# -- 5. version changes that cannot work ---------------------------------------------------------------------------


def test_a_postgresql_major_change_is_refused_naming_the_field(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("pg", namespace, type="postgresql", version="16"))
    wait_ready(kubectl, "pg", namespace)
    refused = kubectl.apply(database("pg", namespace, type="postgresql", version="17"), check=False)
    assert refused.returncode != 0
    assert "spec.version" in refused.stderr and "PostgreSQL major version change is refused" in refused.stderr
    assert "restore a backup into a new Database" in refused.stderr
    minor = kubectl.apply(database("pg", namespace, type="postgresql", version="16.4"), check=False)
    assert minor.returncode == 0, minor.stderr


def test_version_rules_hold_without_the_webhooks(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> None:
    """With the operator stopped and its webhook configurations gone (uninstalled, or DBOP_WEBHOOKS=off), the
    CRD's CEL rules still refuse, naming the field."""
    kubectl.apply(database("cel", namespace, type="postgresql", version="16.4"))
    wait_ready(kubectl, "cel", namespace)
    operator.stop()
    try:
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kubectl.run("delete", kind, WEBHOOK_CONFIGURATION, "--ignore-not-found")
        major = kubectl.apply(database("cel", namespace, type="postgresql", version="17"), check=False)
        assert "spec.version: Forbidden: a PostgreSQL major version change is refused" in major.stderr, major.stderr
        downgrade = kubectl.apply(database("cel", namespace, type="postgresql", version="16.2"), check=False)
        assert "spec.version: Forbidden: downgrades are refused (from 16.4 to 16.2)" in downgrade.stderr
        assert kubectl.get("database", "cel", namespace)["spec"]["version"] == "16.4"
    finally:
        operator.start()  # registers the webhooks again
        wait_for("the webhooks to be registered again", lambda: webhooks_registered(kubectl))


# -- 6. names that cannot work -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["n" * 70, "dotted.name"])
def test_names_that_cannot_work_are_refused_naming_metadata_name(kubectl: Kubectl, namespace: str, name: str) -> None:
    refused = kubectl.apply(database(name, namespace), check=False)
    assert refused.returncode != 0
    assert "metadata.name:" in refused.stderr, refused.stderr
    assert kubectl.get("database", name, namespace) is None


# -- 7. admission stays on while the operator is stopped ---------------------------------------------------------


def test_admission_stays_on_while_the_operator_is_stopped(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(database("gate", namespace))
    wait_ready(kubectl, "gate", namespace)
    operator.stop()  # SIGTERM: a graceful stop, as in every rollout
    try:
        configuration = json.loads(
            kubectl.run("get", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "-o", "json").stdout
        )
        assert [hook["failurePolicy"] for hook in configuration["webhooks"]] == ["Fail"]
        invalid = kubectl.apply(
            database("gate", namespace, backup={"enabled": True, "schedule": "0 25 * * *"}), check=False
        )
        assert invalid.returncode != 0 and "failed calling webhook" in invalid.stderr, invalid.stderr
        stored = kubectl.get("database", "gate", namespace)
        assert stored["spec"]["backup"]["enabled"] is False
    finally:
        operator.start()
    valid = kubectl.apply(database("gate", namespace, replicas=2))
    assert valid.returncode == 0
    wait_statefulset(kubectl, "gate", namespace, replicas=2, timeout=90)

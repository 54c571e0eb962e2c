"""Create, change and delete Databases with kubectl, against the real operator, Pulumi and API server."""

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.databases import condition, database, event_reasons, wait_image, wait_ready, wait_statefulset


@pytest.mark.parametrize(
    ("engine", "version", "image", "port", "config_key"),
    [("mysql", "8.0", "mysql:8.0", 3306, "database.cnf"), ("postgresql", "16", "postgres:16", 5432, "postgresql.conf")],
)
def test_create_gives_objects_and_a_ready_status(
    kubectl: Kubectl,
    namespace: str,
    engine: str,
    version: str,
    image: str,
    port: int,
    config_key: str,
    record_property: Callable[[str, object], None],
) -> None:
    kubectl.apply(database("shop", namespace, type=engine, version=version))
    sts, seconds = wait_statefulset(kubectl, "shop", namespace)
    record_property("apply_to_statefulset_seconds", round(seconds, 2))
    print(f"{engine}: apply -> StatefulSet in {seconds:.1f}s")

    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    service = kubectl.get("service", "shop", namespace)
    assert service is not None and service["spec"]["ports"][0]["port"] == port
    assert kubectl.get("service", "shop-headless", namespace)["spec"]["clusterIP"] == "None"
    [pod_files] = [v["configMap"]["name"] for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
    config = kubectl.get("configmap", pod_files, namespace)
    assert config is not None and "max_connections = 100" in config["data"][config_key]
    secret = kubectl.get("secret", "shop-credentials", namespace)
    assert secret is not None
    password = base64.b64decode(secret["data"]["admin-password"]).decode()
    assert len(password) >= 32
    # The password is only in the Secret: not in the StatefulSet, the ConfigMap or the status.
    assert password not in json.dumps(sts) + json.dumps(config)

    db = wait_ready(kubectl, "shop", namespace)
    assert password not in json.dumps(db)
    outputs = db["status"]["outputs"]
    assert outputs["endpoint"] == f"shop.{namespace}.svc:{port}"
    assert outputs["statefulSet"] == "shop" and outputs["secret"] == "shop-credentials"
    assert db["status"]["lastOperation"]["result"] == "succeeded"
    assert db["status"]["replicas"] == 1
    # Defaults are visible in the stored object.
    assert db["spec"]["environment"] == "development" and db["spec"]["backup"]["enabled"] is False
    kubectl.run("wait", "--for=condition=Ready", "db/shop", "-n", namespace, "--timeout=10s")
    printed = kubectl.run("get", "db", "shop", "-n", namespace).stdout
    assert "Ready" in printed and engine in printed
    assert "Applied" in event_reasons(kubectl, "shop", namespace)


def test_changes_reach_the_objects(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("app", namespace))
    wait_ready(kubectl, "app", namespace)

    kubectl.run("patch", "db", "app", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}')
    wait_statefulset(kubectl, "app", namespace, replicas=2)
    kubectl.run("scale", "db/app", "-n", namespace, "--replicas=3")
    wait_statefulset(kubectl, "app", namespace, replicas=3)
    db = wait_ready(kubectl, "app", namespace)
    assert db["status"]["replicas"] == 3

    kubectl.run("patch", "db", "app", "-n", namespace, "--type=merge", "-p", '{"spec":{"version":"8.4"}}')
    wait_image(kubectl, "app", namespace, "mysql:8.4")

    kubectl.run("patch", "db", "app", "-n", namespace, "--type=merge", "-p", '{"spec":{"backup":{"enabled":true}}}')
    cron = wait_for("the backup CronJob", lambda: kubectl.get("cronjob", "app-backup", namespace))
    assert cron["spec"]["schedule"] == "0 2 * * *"
    kubectl.run("patch", "db", "app", "-n", namespace, "--type=merge", "-p", '{"spec":{"backup":{"enabled":false}}}')
    wait_for("the CronJob to go", lambda: kubectl.get("cronjob", "app-backup", namespace) is None)

    kubectl.run("patch", "db", "app", "-n", namespace, "--type=merge", "-p", '{"spec":{"environment":"staging"}}')

    def staging_resources() -> bool:
        sts = kubectl.get("statefulset", "app", namespace)
        limits = sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        return bool(limits == {"cpu": "1", "memory": "1Gi"})

    wait_for("staging resources", staging_resources)
    assert condition(wait_ready(kubectl, "app", namespace), "Reconciled")["status"] == "True"


def test_delete_removes_objects_and_stack(kubectl: Kubectl, namespace: str, state_dir: Path) -> None:
    kubectl.apply(database("gone", namespace, backup={"enabled": True}))
    pod_files = wait_ready(kubectl, "gone", namespace)["status"]["outputs"]["configMap"]
    stack = f"{namespace}.gone"
    assert (state_dir / "workspaces" / stack).exists()

    kubectl.run("delete", "db", "gone", "-n", namespace, "--timeout=120s")
    for kind, name in [
        ("statefulset", "gone"),
        ("service", "gone"),
        ("service", "gone-headless"),
        ("configmap", pod_files),
        ("secret", "gone-credentials"),
        ("cronjob", "gone-backup"),
        ("pvc", "gone-backup"),
    ]:
        wait_for(
            f"{kind}/{name} to be deleted", lambda kind=kind, name=name: kubectl.get(kind, name, namespace) is None
        )
    assert not (state_dir / "workspaces" / stack).exists()
    # The stack is gone from the backend (Pulumi keeps only its usual .bak copy of the last state).
    assert not list((state_dir / "backend").rglob(f"{stack}.json"))


@pytest.mark.parametrize(("policy", "kept"), [("Retain", True), ("Delete", False)])
def test_deletion_policy_decides_the_fate_of_the_data_volume(
    kubectl: Kubectl, namespace: str, policy: str, kept: bool
) -> None:
    kubectl.apply(database("vol", namespace, deletionPolicy=policy))
    wait_ready(kubectl, "vol", namespace)
    wait_for("the data volume claim", lambda: kubectl.get("pvc", "data-vol-0", namespace))
    kubectl.run("delete", "db", "vol", "-n", namespace, "--timeout=120s")
    wait_for("the StatefulSet to be deleted", lambda: kubectl.get("statefulset", "vol", namespace) is None)
    if kept:
        assert kubectl.get("pvc", "data-vol-0", namespace) is not None
    else:
        wait_for("the data volume claim to be deleted", lambda: kubectl.get("pvc", "data-vol-0", namespace) is None)

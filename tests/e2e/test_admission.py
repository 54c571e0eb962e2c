"""Admission webhooks on the local cluster: defaults stored in the object, rules refused with field names."""

import json

from tests.e2e.cluster import Kubectl
from tests.e2e.databases import database, wait_ready


def test_minimal_database_is_stored_with_every_default(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("minimal", namespace))
    spec = kubectl.get("database", "minimal", namespace)["spec"]
    assert spec["replicas"] == 1
    assert spec["environment"] == "development"
    assert spec["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert spec["backup"] == {"enabled": False, "schedule": "0 2 * * *", "retention": "7d", "storageSize": "5Gi"}
    assert spec["monitoring"] == {"enabled": False, "metrics": False, "logging": False}
    assert spec["deletionPolicy"] == "Delete" and spec["driftPolicy"] == "Correct"
    assert spec["updatePolicy"] == "Automatic"
    # Applying the same YAML again changes nothing.
    generation = kubectl.get("database", "minimal", namespace)["metadata"]["generation"]
    kubectl.apply(database("minimal", namespace))
    assert kubectl.get("database", "minimal", namespace)["metadata"]["generation"] == generation
    printed = kubectl.run("get", "db", "minimal", "-n", namespace).stdout.splitlines()[1].split()
    assert printed[3] == "1"  # the Replicas column


def test_environment_defaults_and_user_values(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        database("prod", namespace, environment="production", resources={"limits": {"cpu": "3", "memory": "6Gi"}})
    )
    spec = kubectl.get("database", "prod", namespace)["spec"]
    assert spec["replicas"] == 2
    assert spec["deletionPolicy"] == "Retain"
    assert spec["resources"] == {"limits": {"cpu": "3", "memory": "6Gi"}}  # what the user set is kept


def test_dry_run_is_answered_without_storing(kubectl: Kubectl, namespace: str) -> None:
    result = kubectl.apply(database("dry", namespace), "--dry-run=server", "-o", "json")
    assert json.loads(result.stdout)["spec"]["replicas"] == 1
    assert kubectl.get("database", "dry", namespace) is None
    refused = kubectl.apply(
        database("dry", namespace, backup={"enabled": True, "schedule": "0 25 * * *"}), "--dry-run=server", check=False
    )
    assert "spec.backup.schedule: hour: 25 is outside 0-23" in refused.stderr


def test_webhook_rejections_name_the_field(kubectl: Kubectl, namespace: str) -> None:
    too_old = kubectl.apply(database("old", namespace, version="5.7"), check=False)
    assert "spec.version: mysql 5.7 is not supported; use 8.0 or newer" in too_old.stderr
    upside_down = kubectl.apply(
        database("limits", namespace, resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}),
        check=False,
    )
    assert "spec.resources.requests.memory: request 2Gi is larger than the limit 1Gi" in upside_down.stderr


def test_update_rules(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("upd", namespace, version="8.4", storage={"size": "2Gi", "class": "standard"}))
    wait_ready(kubectl, "upd", namespace)
    downgrade = kubectl.apply(
        database("upd", namespace, version="8.0", storage={"size": "2Gi", "class": "standard"}), check=False
    )
    assert "spec.version: Forbidden: downgrades are refused (from 8.4 to 8.0)" in downgrade.stderr
    new_class = kubectl.apply(
        database("upd", namespace, version="8.4", storage={"size": "2Gi", "class": "fast"}), check=False
    )
    assert "spec.storage.class" in new_class.stderr and "cannot change" in new_class.stderr
    # Growing is allowed or refused by the StorageClass: test_data_safety.py covers both kinds of class.

"""The API server itself refuses invalid Databases (CRD schema and CEL rules), naming the field."""

import pytest

from tests.e2e.cluster import Kubectl
from tests.e2e.databases import database, wait_ready


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"environment": "production", "replicas": 1}, "spec.replicas: Invalid value"),
        ({"environment": "production", "replicas": 1}, "production requires at least 2 replicas"),
        (
            {"environment": "production", "replicas": 2, "resources": {"requests": {"cpu": "1"}}},
            "production requires resource limits",
        ),
        ({"replicas": 11}, "spec.replicas: Invalid value: 11"),
        ({"type": "oracle"}, 'spec.type: Unsupported value: "oracle"'),
        ({"version": "latest"}, "spec.version: Invalid value"),
        ({"storage": {"size": "ten"}}, "spec.storage.size: Invalid value"),
        ({"backup": {"enabled": True, "retention": "7 days"}}, "spec.backup.retention: Invalid value"),
        ({"backup": {"enabled": True, "schedule": "daily"}}, "spec.backup.schedule: Invalid value"),
        ({"network": {"allowedClients": [{}]}}, "give podSelector, namespaceSelector or both"),
        (
            {"network": {"monitoring": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}]}},
            "operators In and NotIn need at least one value",
        ),
    ],
)
def test_invalid_databases_are_rejected(kubectl: Kubectl, namespace: str, spec: dict, message: str) -> None:
    result = kubectl.apply(database("bad", namespace, **spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert kubectl.get("database", "bad", namespace) is None


def test_immutable_fields_and_storage_shrink(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("fixed", namespace, storage={"size": "2Gi"}))
    wait_ready(kubectl, "fixed", namespace)
    type_change = kubectl.apply(database("fixed", namespace, type="postgresql", version="16"), check=False)
    assert "spec.type cannot change after creation" in type_change.stderr
    shrink = kubectl.apply(database("fixed", namespace, storage={"size": "1Gi"}), check=False)
    assert "storage cannot shrink (from 2Gi to 1Gi)" in shrink.stderr

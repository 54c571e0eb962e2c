"""The last handled spec kopf compares with: the same essence as kopf's own storage builds, so the same changes
reach the handlers (a spec change, an annotation a handler watches) and a status patch reaches none."""

from typing import Any

import kopf
import pytest

from database_operator.diffbase import LeanAnnotationsDiffBaseStorage

KEY = {"prefix": "database.example.com", "key": "last-handled-configuration"}


def database(**changes: Any) -> kopf.Body:
    body: dict[str, Any] = {
        "apiVersion": "database.example.com/v1",
        "kind": "Database",
        "metadata": {
            "name": "orders",
            "namespace": "shop",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"team": "a"},
            "annotations": {
                "database.example.com/approve": "plan-1",
                "database.example.com/last-handled-configuration": '{"spec": {}}',
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            },
            "finalizers": ["database.example.com/finalizer"],
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
        },
        "spec": {"type": "postgresql", "version": "16", "replicas": 3, "storage": {"size": "1Gi"}},
        "status": {"phase": "Ready", "instances": [{"name": "orders-0", "role": "primary"}], "conditions": []},
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = body
        for parent in parents:
            target = target[parent]
        target[last] = value
    return kopf.Body(body)


@pytest.mark.parametrize(
    "extra_fields",
    [None, [("metadata", "annotations", "database.example.com/approve")], ["status.phase"], [("status", "phase")]],
)
@pytest.mark.parametrize(
    "changes",
    [{}, {"spec__replicas": 1}, {"status__phase": "Failed"}, {"metadata__managedFields": []}, {"metadata__labels": {}}],
)
def test_the_essence_is_kopfs_own(extra_fields: list[Any] | None, changes: dict[str, Any]) -> None:
    body = database(**changes)
    lean = LeanAnnotationsDiffBaseStorage(**KEY).build(body=body, extra_fields=extra_fields)
    assert lean == kopf.AnnotationsDiffBaseStorage(**KEY).build(body=body, extra_fields=extra_fields)


def test_a_status_patch_changes_nothing_a_spec_change_does() -> None:
    storage = LeanAnnotationsDiffBaseStorage(**KEY)
    before = storage.build(body=database())
    assert storage.build(body=database(status__phase="Failed", metadata__managedFields=[])) == before
    assert storage.build(body=database(spec__replicas=1)) != before

"""Data and credentials are protected by the program's options, owned by the Database, and kept under Retain."""

import re

import pytest

from database_api.names import object_names
from database_program.protection import backup_volume_options, credentials_options, statefulset_options
from tests.program.conftest import DATABASE_UID, RenderSpec

OWNER = {"apiVersion": "database.example.com/v1", "kind": "Database", "name": "orders", "uid": DATABASE_UID}


def spec(environment: str = "development", **fields: object) -> dict[str, object]:
    replicas = 2 if environment == "production" else 1
    return {
        "type": "mysql",
        "version": "8.0",
        "storage": {"size": "1Gi"},
        "environment": environment,
        "replicas": replicas,
        "backup": {"enabled": True},
        **fields,
    }


def test_the_statefulset_is_protected_and_never_replaced_because_of_its_volume_size() -> None:
    options = statefulset_options()
    assert options.protect is True
    assert options.ignore_changes == ["spec.volumeClaimTemplates"]


@pytest.mark.parametrize(("policy", "owned"), [("Delete", True), ("Retain", False)])
def test_secrets_are_protected_and_never_deleted_by_pulumi(render: RenderSpec, policy: str, owned: bool) -> None:
    """Under Retain they outlive the Database; under Delete the garbage collector deletes them with it (their
    ownerReference), so the provider never waits for a Secret's deletion, which needs list and watch."""
    options = credentials_options()
    assert options.protect is True
    assert options.retain_on_delete is True
    rendered = render(spec(deletionPolicy=policy))
    for name in ("orders-credentials", "orders-replication"):
        assert bool(rendered.get("Secret", name)["metadata"].get("ownerReferences")) is owned


def test_the_backup_volume_is_never_deleted_by_an_update_nor_replaced_because_of_its_size() -> None:
    options = backup_volume_options()
    assert options.retain_on_delete is True
    assert options.ignore_changes == ["spec.resources"]


def test_every_object_is_owned_by_the_database_under_delete(render: RenderSpec) -> None:
    rendered = render(spec(deletionPolicy="Delete"))
    for (typ, name), inputs in rendered.resources.items():
        assert inputs["metadata"]["ownerReferences"] == [{**OWNER, "controller": True}], (typ, name)


def test_what_outlives_the_database_under_retain_has_no_owner(render: RenderSpec) -> None:
    """The garbage collector would delete a retained object along with its owner."""
    rendered = render(spec(deletionPolicy="Retain"))
    for kind, name in [
        ("Secret", "orders-credentials"),
        ("Secret", "orders-replication"),
        ("PersistentVolumeClaim", "orders-backup"),
    ]:
        assert "ownerReferences" not in rendered.get(kind, name)["metadata"]
    assert rendered.get("StatefulSet", "orders")["metadata"]["ownerReferences"][0]["uid"] == DATABASE_UID


def test_a_preview_of_a_database_not_created_yet_has_no_owner(render: RenderSpec) -> None:
    rendered = render(spec(), uid=None)
    assert all("ownerReferences" not in inputs["metadata"] for inputs in rendered.resources.values())


def test_object_names_cover_every_declared_object(render: RenderSpec) -> None:
    rendered = render(
        spec(
            "production",
            monitoring={"enabled": True, "metrics": True},
            resources={"limits": {"cpu": "1", "memory": "1Gi"}},
        ),
        service_monitor_available=True,
    )
    names = object_names("orders")
    for inputs in rendered.resources.values():
        kind = inputs.get("kind")
        name = inputs["metadata"]["name"]
        pod_files = kind == "ConfigMap" and re.fullmatch(r"orders-config-[0-9a-f]{10}", name)  # configmap.py
        assert kind is None or pod_files or name in names[kind], (kind, name)

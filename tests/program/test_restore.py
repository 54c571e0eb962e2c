"""A Database initialised from a backup: the source's backup volume mounted read-only into the bootstrap init
container only, which loads and verifies the dump (restore-<engine>.sh) before the data directory is moved into
place; the server container never sees the dump."""

from typing import Any

import pytest

from database_program.context import RestoreSource
from database_program.engines import script
from tests.program.conftest import MakeContext, render_context

SOURCE = RestoreSource(claim="orders-backup", file="before-migration.dump")


def pod(rendered_statefulset: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = rendered_statefulset["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize(
    ("engine", "version", "family"),
    [("postgresql", "16", "postgresql"), ("mysql", "8.0", "mysql"), ("mariadb", "10.11", "mysql")],
)
def test_a_restored_database_loads_the_dump_in_the_bootstrap(
    make_context: MakeContext, engine: str, version: str, family: str
) -> None:
    spec = {"type": engine, "version": version, "storage": {"size": "1Gi"}}
    rendered = render_context(make_context(spec, name="copy", restore=SOURCE))
    spec_of_pod = pod(rendered.get("StatefulSet", "copy"))

    [restore_volume] = [v for v in spec_of_pod["volumes"] if v["name"] == "restore"]
    assert restore_volume["persistentVolumeClaim"] == {"claimName": "orders-backup", "readOnly": True}
    [bootstrap] = spec_of_pod["initContainers"]
    # The bootstrap sees the one dump, read-only, never the other dumps on the volume; no other container sees it.
    [mount] = [m for m in bootstrap["volumeMounts"] if m["name"] == "restore"]
    assert mount == {
        "name": "restore",
        "mountPath": "/restore/before-migration.dump",
        "subPath": "before-migration.dump",
        "readOnly": True,
    }
    env = {item["name"]: item.get("value") for item in bootstrap["env"]}
    assert env["RESTORE_FILE"] == "/restore/before-migration.dump"
    for container in spec_of_pod["containers"]:
        assert "restore" not in [m["name"] for m in container.get("volumeMounts", [])], container["name"]
    data = rendered.get("ConfigMap", "copy-config")["data"]
    assert data[f"restore-{family}.sh"] == script(f"restore-{family}.sh")


def test_a_database_without_restore_mounts_no_backup_volume(make_context: MakeContext) -> None:
    rendered = render_context(make_context({"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}}))
    spec_of_pod = pod(rendered.get("StatefulSet", "orders"))
    assert [v["name"] for v in spec_of_pod["volumes"] if v["name"] == "restore"] == []
    [bootstrap] = spec_of_pod["initContainers"]
    assert "RESTORE_FILE" not in {item["name"] for item in bootstrap["env"]}
    assert "restore-mysql.sh" not in rendered.get("ConfigMap", "orders-config")["data"]

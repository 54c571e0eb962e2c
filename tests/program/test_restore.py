"""A Database initialised from a backup: the source's backup volume mounted read-only, the engine's restore script
run by the official image on first start (after the application user), with the dump's path in the env."""

from typing import Any

import pytest

from database_program.context import RestoreSource
from database_program.engines import script
from tests.program.conftest import MakeContext, render_context

SOURCE = RestoreSource(claim="orders-backup", file="before-migration.dump")


def pod(rendered_statefulset: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = rendered_statefulset["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize(("engine", "version", "init"),
                         [("postgresql", "16", ["10-app-user.sh", "20-restore.sh", "30-replication.sh"]),
                          ("mysql", "8.0", ["20-restore.sh", "30-replication.sh"])])  # fmt: skip
def test_a_restored_database_loads_the_dump_on_first_start(
    make_context: MakeContext, engine: str, version: str, init: list[str]
) -> None:
    spec = {"type": engine, "version": version, "storage": {"size": "1Gi"}}
    rendered = render_context(make_context(spec, name="copy", restore=SOURCE))
    spec_of_pod = pod(rendered.get("StatefulSet", "copy"))

    [restore_volume] = [v for v in spec_of_pod["volumes"] if v["name"] == "restore"]
    assert restore_volume["persistentVolumeClaim"] == {"claimName": "orders-backup", "readOnly": True}
    [container] = [c for c in spec_of_pod["containers"] if c["name"] == engine]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "restore"]
    assert mount == {"name": "restore", "mountPath": "/restore", "readOnly": True}
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["RESTORE_FILE"] == "/restore/before-migration.dump"

    [initdb] = [v for v in spec_of_pod["volumes"] if v["name"] == "initdb"]
    items = initdb["configMap"]["items"]
    # The application user exists before the restore runs; replication starts from the restored data.
    assert [item["key"] for item in items] == init
    assert {item["mode"] for item in items} == {0o755}  # run in their own shell, not sourced by the entrypoint
    data = rendered.get("ConfigMap", "copy-config")["data"]
    assert data["20-restore.sh"] == script(f"restore-{engine}.sh")


def test_a_database_without_restore_mounts_no_backup_volume(make_context: MakeContext) -> None:
    rendered = render_context(make_context({"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}}))
    spec_of_pod = pod(rendered.get("StatefulSet", "orders"))
    assert [v["name"] for v in spec_of_pod["volumes"] if v["name"] == "restore"] == []
    assert "20-restore.sh" not in rendered.get("ConfigMap", "orders-config")["data"]

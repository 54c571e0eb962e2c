"""What makes replicas replicate: the topology every pod learns, how a new replica copies the primary, the
engine settings, and the replication account's own Secret. The scripts themselves run against real servers
in tests/servers/test_replication.py."""

from typing import Any

import pytest

from database_program.engines import script
from tests.program.conftest import REPLICATION_PASSWORD, Rendered, RenderSpec

MYSQL = {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}, "replicas": 3}
POSTGRES = {"type": "postgresql", "version": "16", "storage": {"size": "20Gi"}, "replicas": 3}


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def topology(env: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "ordinal": env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"],
        "primary": env["PRIMARY_HOST"]["value"],
        "user": env["REPLICATION_USER"]["valueFrom"]["secretKeyRef"],
        "password": env["REPLICATION_PASSWORD"]["valueFrom"]["secretKeyRef"],
    }


EXPECTED_TOPOLOGY = {
    "ordinal": "metadata.labels['apps.kubernetes.io/pod-index']",
    "primary": "orders-0.orders-headless",
    "user": {"name": "orders-replication", "key": "username"},
    "password": {"name": "orders-replication", "key": "password"},
}


@pytest.mark.parametrize("spec", [MYSQL, POSTGRES])
def test_every_pod_knows_its_ordinal_the_primary_and_the_replication_account(render: RenderSpec, spec: dict) -> None:
    rendered = render(spec)
    [server] = [c for c in pod_spec(rendered)["containers"] if c["name"] == spec["type"]]
    assert topology(env_of(server)) == EXPECTED_TOPOLOGY
    secret = rendered.get("Secret", "orders-replication")
    assert secret["stringData"] == {"username": "replicator", "password": REPLICATION_PASSWORD}


def test_a_postgresql_replica_copies_the_primary_before_its_server_starts(render: RenderSpec) -> None:
    rendered = render(POSTGRES)
    pod = pod_spec(rendered)
    [clone] = pod["initContainers"]
    [server] = [c for c in pod["containers"] if c["name"] == "postgresql"]
    assert clone["image"] == server["image"] == "postgres:16"  # pg_basebackup of the server's own version
    assert clone["command"] == ["sh", "/scripts/clone-postgresql.sh"]
    assert topology(env_of(clone)) == EXPECTED_TOPOLOGY
    assert env_of(clone)["PGDATA"] == env_of(server)["PGDATA"]  # the copy lands where the server looks
    mounts = {m["name"]: m["mountPath"] for m in clone["volumeMounts"]}
    assert mounts["data"] == "/var/lib/postgresql/data" and mounts["scripts"] == "/scripts"
    assert clone["securityContext"] == server["securityContext"]
    data = rendered.get("ConfigMap", "orders-config")["data"]
    assert data["clone-postgresql.sh"] == script("clone-postgresql.sh")
    assert data["30-replication.sh"] == script("init-postgresql-replication.sh")  # the primary's replication user


def test_mysql_starts_with_a_server_id_per_pod_and_copies_the_primary_on_first_start(render: RenderSpec) -> None:
    rendered = render(MYSQL)
    pod = pod_spec(rendered)
    assert "initContainers" not in pod  # MySQL replicas copy the primary inside the image's first start
    [server] = [c for c in pod["containers"] if c["name"] == "mysql"]
    assert server["command"] == ["sh", "/scripts/start-mysql.sh", "docker-entrypoint.sh"]
    assert server["args"] == ["mysqld"]
    data = rendered.get("ConfigMap", "orders-config")["data"]
    assert data["start-mysql.sh"] == script("start-mysql.sh")
    assert data["30-replication.sh"] == script("init-mysql-replication.sh")


@pytest.mark.parametrize(
    ("spec", "settings"),
    [
        (MYSQL, ["log_bin = binlog", "loose-gtid_mode = ON", "loose-enforce_gtid_consistency = ON"]),
        (POSTGRES, ["wal_level = replica", "max_wal_senders = 10", "wal_keep_size = 512MB", "hot_standby = on"]),
    ],
)
def test_the_engine_configuration_turns_replication_on(render: RenderSpec, spec: dict, settings: list[str]) -> None:
    data = render(spec).get("ConfigMap", "orders-config")["data"]
    config = data["database.cnf" if spec["type"] == "mysql" else "postgresql.conf"]
    for setting in settings:
        assert setting in config.splitlines()

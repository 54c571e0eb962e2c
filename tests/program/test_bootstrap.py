"""The product's own bootstrap in the pods: an init container of the server's image runs bootstrap-<engine>.sh
(fresh, restored or copied from the primary) with every password from a Secret; the server container then runs
the server binary itself on the ConfigMap's configuration. No image entrypoint, no initialisation variables, no
first-start scripts. The scripts themselves run against real servers in tests/servers/."""

from typing import Any

import pytest

from database_program.engines import script
from tests.program.conftest import REPLICATION_PASSWORD, Rendered, RenderSpec

MYSQL = {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}, "replicas": 3}
MARIADB = {"type": "mariadb", "version": "11.4", "storage": {"size": "10Gi"}, "replicas": 3}
POSTGRES = {"type": "postgresql", "version": "16", "storage": {"size": "20Gi"}, "replicas": 3}
ENGINES = [MYSQL, MARIADB, POSTGRES]
FAMILY = {"mysql": "mysql", "mariadb": "mysql", "postgresql": "postgresql"}


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    return spec


def containers(rendered: Rendered, engine: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bootstrap init container and the server container."""
    pod = pod_spec(rendered)
    [bootstrap] = pod["initContainers"]
    [server] = [c for c in pod["containers"] if c["name"] == engine]
    return bootstrap, server


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def secret_ref(env: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    ref: dict[str, str] = env[name]["valueFrom"]["secretKeyRef"]
    return ref


@pytest.mark.parametrize("spec", ENGINES, ids=lambda spec: spec["type"])
def test_an_init_container_of_the_same_image_bootstraps_the_data_directory(render: RenderSpec, spec: dict) -> None:
    rendered = render(spec)
    bootstrap, server = containers(rendered, spec["type"])
    family = FAMILY[spec["type"]]

    assert bootstrap["name"] == "bootstrap"
    assert (
        bootstrap["image"]
        == server["image"]
        == f"{'postgres' if family == 'postgresql' else spec['type']}:" + (spec["version"])
    )
    assert bootstrap["command"] == ["sh", f"/scripts/bootstrap-{family}.sh"]
    data = rendered.get("ConfigMap", "orders-config")["data"]
    for name in (f"bootstrap-{family}.sh", "bootstrap-lib.sh"):  # the second is sourced by the first
        assert data[name] == script(name)
    # It sees what the server sees, data and configuration at the same paths, and says why it failed.
    assert bootstrap["volumeMounts"] == server["volumeMounts"]
    assert bootstrap["securityContext"] == server["securityContext"]
    assert bootstrap["terminationMessagePolicy"] == "FallbackToLogsOnError"


@pytest.mark.parametrize("spec", ENGINES, ids=lambda spec: spec["type"])
def test_every_password_reaches_the_bootstrap_from_a_secret(render: RenderSpec, spec: dict) -> None:
    bootstrap, _ = containers(render(spec), spec["type"])
    env = env_of(bootstrap)
    assert secret_ref(env, "ADMIN_PASSWORD") == {"name": "orders-credentials", "key": "admin-password"}
    assert secret_ref(env, "APP_PASSWORD") == {"name": "orders-credentials", "key": "password"}
    assert secret_ref(env, "REPLICATION_PASSWORD") == {"name": "orders-replication", "key": "password"}
    assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert env["PRIMARY_HOST"]["value"] == "orders"  # the read-write Service: it moves with the primary
    assert env["ROLE_FILE"]["value"] == "/podinfo/role"
    assert env["DATABASE"]["value"] == "orders"
    assert all("value" not in item for name, item in env.items() if "PASSWORD" in name)


@pytest.mark.parametrize("spec", ENGINES, ids=lambda spec: spec["type"])
def test_no_official_entrypoint_initialisation_is_left(render: RenderSpec, spec: dict) -> None:
    rendered = render(spec)
    pod = pod_spec(rendered)
    names = [
        item["name"] for container in pod["initContainers"] + pod["containers"] for item in container.get("env", [])
    ]
    assert not [name for name in names if name.startswith(("MYSQL_", "POSTGRES_", "MARIADB_"))]
    mounts = [m["mountPath"] for container in pod["containers"] for m in container["volumeMounts"]]
    assert "/docker-entrypoint-initdb.d" not in mounts
    assert not [key for key in rendered.get("ConfigMap", "orders-config")["data"] if key[:2].isdigit()]


@pytest.mark.parametrize(
    ("spec", "command"),
    [
        (MYSQL, ["sh", "/scripts/start-mysql.sh", "mysqld", "--defaults-file=/etc/mysql/conf.d/database.cnf"]),
        (MARIADB, ["sh", "/scripts/start-mysql.sh", "mariadbd", "--defaults-file=/etc/mysql/conf.d/database.cnf"]),
        (
            POSTGRES,
            [
                "sh",
                "/scripts/start-postgresql.sh",
                "postgres",
                "-D",
                "/var/lib/postgresql/data/pgdata",
                "-c",
                "config_file=/etc/postgresql/postgresql.conf",
            ],
        ),
    ],
    ids=["mysql", "mariadb", "postgresql"],
)
def test_the_server_container_runs_the_server_binary_on_the_configmap(
    render: RenderSpec, spec: dict, command: list[str]
) -> None:
    rendered = render(spec)
    _, server = containers(rendered, spec["type"])
    assert server["command"] == command
    assert "args" not in server
    config_file = command[-1].split("=", 1)[1]
    assert {"name": "config", "mountPath": config_file, "subPath": config_file.rsplit("/", 1)[1], "readOnly": True} in (
        server["volumeMounts"]
    )


@pytest.mark.parametrize(
    ("spec", "data_env", "data_path"),
    [(MYSQL, "DATADIR", "/var/lib/mysql/data"), (MARIADB, "DATADIR", "/var/lib/mysql/data"),
     (POSTGRES, "PGDATA", "/var/lib/postgresql/data/pgdata")],
    ids=["mysql", "mariadb", "postgresql"],
)  # fmt: skip
def test_the_bootstrap_builds_where_the_server_reads(
    render: RenderSpec, spec: dict, data_env: str, data_path: str
) -> None:
    rendered = render(spec)
    bootstrap, server = containers(rendered, spec["type"])
    assert env_of(bootstrap)[data_env]["value"] == data_path
    config = rendered.get("ConfigMap", "orders-config")["data"]
    if FAMILY[spec["type"]] == "mysql":
        assert f"datadir = {data_path}" in config["database.cnf"].splitlines()
        assert env_of(bootstrap)["CONFIG_FILE"]["value"] == "/etc/mysql/conf.d/database.cnf"
    else:
        assert data_path in server["command"]


@pytest.mark.parametrize("spec", ENGINES, ids=lambda spec: spec["type"])
def test_the_bootstrap_checks_the_image_contract_from_stacks_config(render: RenderSpec, spec: dict) -> None:
    bootstrap, server = containers(render(spec), spec["type"])
    commands = env_of(bootstrap)["IMAGE_COMMANDS"]["value"].split()
    assert "sh" in commands
    binary = server["command"][2] if server["command"][0] == "sh" else server["command"][0]
    assert binary in commands
    assert server["livenessProbe"]["exec"]["command"][0] in commands


def test_the_replication_account_has_its_own_secret(render: RenderSpec) -> None:
    secret = render(POSTGRES).get("Secret", "orders-replication")
    assert secret["stringData"] == {"username": "replicator", "password": REPLICATION_PASSWORD}


@pytest.mark.parametrize(
    ("spec", "settings"),
    [
        (MYSQL, ["log_bin = binlog", "gtid_mode = ON", "enforce_gtid_consistency = ON", "relay_log = relay-bin"]),
        (MARIADB, ["log_bin = binlog", "gtid_strict_mode = ON", "relay_log = relay-bin"]),
        (POSTGRES, ["wal_level = replica", "max_wal_senders = 10", "wal_keep_size = 512MB", "hot_standby = on"]),
    ],
    ids=["mysql", "mariadb", "postgresql"],
)
def test_the_engine_configuration_turns_replication_on(render: RenderSpec, spec: dict, settings: list[str]) -> None:
    data = render(spec).get("ConfigMap", "orders-config")["data"]
    config = data["postgresql.conf" if spec["type"] == "postgresql" else "database.cnf"]
    for setting in settings:
        assert setting in config.splitlines()


@pytest.mark.parametrize(
    ("spec", "liveness"), [(MYSQL, "mysqladmin"), (MARIADB, "mariadb-admin")], ids=["mysql", "mariadb"]
)
def test_mariadb_uses_its_own_tool_names(render: RenderSpec, spec: dict, liveness: str) -> None:
    """MariaDB 11 images no longer carry the mysql* names; MySQL images never carried the mariadb* ones."""
    _, server = containers(render(spec), spec["type"])
    assert server["livenessProbe"]["exec"]["command"][0] == liveness

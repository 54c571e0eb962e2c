"""Every branch of the program: both engines x three environments x backup on/off x monitoring on/off."""

import itertools
import json

import pytest

from tests.program.conftest import (
    ADMIN_PASSWORD,
    BACKUP_PASSWORD,
    EXPORTER_PASSWORD,
    REPLICATION_PASSWORD,
    USER_PASSWORD,
    RenderSpec,
)

ENGINES = ["mysql", "postgresql"]
ENVIRONMENTS = ["development", "staging", "production"]
MATRIX = list(itertools.product(ENGINES, ENVIRONMENTS, [False, True], [False, True]))
PASSWORDS = (ADMIN_PASSWORD, USER_PASSWORD, REPLICATION_PASSWORD, EXPORTER_PASSWORD, BACKUP_PASSWORD)
ACCOUNT_SECRETS = ["orders-backup", "orders-credentials", "orders-exporter", "orders-replication"]


def spec_for(engine: str, environment: str, backup: bool, monitoring: bool) -> dict[str, object]:
    return {
        "type": engine,
        "version": "8.4" if engine == "mysql" else "16",
        "environment": environment,
        "storage": {"size": "10Gi"},
        "backup": {"enabled": backup},
        "monitoring": {"enabled": monitoring, "metrics": monitoring, "logging": monitoring},
    }


@pytest.mark.parametrize(("engine", "environment", "backup", "monitoring"), MATRIX)
def test_declares_the_objects_each_branch_needs(
    render: RenderSpec, engine: str, environment: str, backup: bool, monitoring: bool
) -> None:
    rendered = render(spec_for(engine, environment, backup, monitoring))

    expected = [*["ConfigMap"] * 2, "NetworkPolicy", *["Secret"] * 6, "Service", "Service", "Service", "StatefulSet"]
    if backup:
        expected += ["ConfigMap", "CronJob", "PersistentVolumeClaim"]
    if environment == "production":
        expected += ["PodDisruptionBudget"]
    assert rendered.kinds() == sorted(expected)

    pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == [engine, *(["metrics"] if monitoring else []), "tls-reload"]
    assert ("affinity" in pod) == (environment == "production")
    assert rendered.has("CronJob", "orders-backup") == backup
    assert rendered.outputs["backupCronJob"] == ("orders-backup" if backup else None)
    # The stack owns every object outright (drift correction and adoption after a crash need it).
    for (kind, name), inputs in rendered.resources.items():
        assert inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true", (kind, name)


@pytest.mark.parametrize(("engine", "environment", "backup", "monitoring"), MATRIX)
def test_passwords_reach_containers_only_through_secret_key_refs(
    render: RenderSpec, engine: str, environment: str, backup: bool, monitoring: bool
) -> None:
    rendered = render(spec_for(engine, environment, backup, monitoring))

    # Each password lives in one Secret: every account with one job has a Secret of its own.
    holders = {
        "orders-credentials": {ADMIN_PASSWORD, USER_PASSWORD},
        "orders-replication": {REPLICATION_PASSWORD},
        "orders-exporter": {EXPORTER_PASSWORD},
        "orders-backup": {BACKUP_PASSWORD},
        "orders-ca": set(),
        "orders-tls": set(),
    }
    for (kind, name), inputs in rendered.resources.items():
        text = json.dumps(inputs)
        carried = {password for password in PASSWORDS if password in text}
        assert carried == (holders[name] if kind.endswith(":Secret") else set()), f"{kind} {name} carries a password"
    assert not any(password in json.dumps(rendered.outputs) for password in PASSWORDS)
    # The Secrets' password values are marked secret, so Pulumi encrypts them in state and masks them in logs.
    # So are the TLS keys (the CA's and the server's).
    assert sorted(name for _, name in rendered.secret_inputs) == sorted([*ACCOUNT_SECRETS, "orders-ca", "orders-tls"])


@pytest.mark.parametrize(("engine", "environment", "backup", "monitoring"), MATRIX)
def test_each_container_gets_only_the_passwords_of_its_own_job(
    render: RenderSpec, engine: str, environment: str, backup: bool, monitoring: bool
) -> None:
    """The bootstrap makes every account; the server's probes use the admin on the local socket (and a MariaDB/MySQL
    server the replication account, to follow a new primary after a failover); the exporter has the exporter's
    account and the backup Job the backup account, nothing else. Every one through a secretKeyRef."""
    rendered = render(spec_for(engine, environment, backup, monitoring))
    pods = [rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]]
    if backup:
        pods.append(rendered.get("CronJob", "orders-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    expected = {
        "bootstrap": ACCOUNT_SECRETS,
        engine: ["orders-credentials", *(["orders-replication"] if engine != "postgresql" else [])],
        "metrics": ["orders-exporter"],
        "backup": ["orders-backup"],
        # MariaDB/MySQL: the admin makes the server reread its certificate (PostgreSQL: trusted on the local socket);
        # a PostgreSQL standby made before TLS checks the primary serves verified TLS as the replication account.
        "tls-reload": ["orders-credentials"] if engine == "mysql" else ["orders-replication"],
    }
    for pod in pods:
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            passwords = [env for env in container.get("env", []) if "PASS" in env["name"]]
            assert all("value" not in env for env in passwords), container["name"]
            holders = sorted({env["valueFrom"]["secretKeyRef"]["name"] for env in passwords})
            assert holders == expected[container["name"]], container["name"]

"""Every branch of the program: both engines x three environments x backup on/off x monitoring on/off."""

import itertools
import json

import pytest

from tests.program.conftest import ADMIN_PASSWORD, REPLICATION_PASSWORD, USER_PASSWORD, RenderSpec

ENGINES = ["mysql", "postgresql"]
ENVIRONMENTS = ["development", "staging", "production"]
MATRIX = list(itertools.product(ENGINES, ENVIRONMENTS, [False, True], [False, True]))


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

    expected = ["ConfigMap", "NetworkPolicy", "Secret", "Secret", "Service", "Service", "Service", "StatefulSet"]
    if backup:
        expected += ["ConfigMap", "CronJob", "PersistentVolumeClaim"]
    if environment == "production":
        expected += ["PodDisruptionBudget"]
    assert rendered.kinds() == sorted(expected)

    pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == [engine, *(["metrics"] if monitoring else [])]
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

    # Each password lives in one Secret: the replication account's in a Secret of its own.
    holders = {"orders-credentials": {ADMIN_PASSWORD, USER_PASSWORD}, "orders-replication": {REPLICATION_PASSWORD}}
    for (kind, name), inputs in rendered.resources.items():
        text = json.dumps(inputs)
        carried = {password for password in (ADMIN_PASSWORD, USER_PASSWORD, REPLICATION_PASSWORD) if password in text}
        assert carried == (holders[name] if kind.endswith(":Secret") else set()), f"{kind} {name} carries a password"
    assert not any(password in json.dumps(rendered.outputs) for password in (ADMIN_PASSWORD, REPLICATION_PASSWORD))
    # The Secrets' password values are marked secret, so Pulumi encrypts them in state and masks them in logs.
    assert sorted(name for _, name in rendered.secret_inputs) == ["orders-credentials", "orders-replication"]


@pytest.mark.parametrize(("engine", "environment", "backup", "monitoring"), MATRIX)
def test_every_env_var_is_a_plain_non_secret_value_or_a_secret_key_ref(
    render: RenderSpec, engine: str, environment: str, backup: bool, monitoring: bool
) -> None:
    rendered = render(spec_for(engine, environment, backup, monitoring))
    pods = [rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]]
    if backup:
        pods.append(rendered.get("CronJob", "orders-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    for pod in pods:
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for env in container.get("env", []):
                if "PASS" in env["name"]:
                    holder = "orders-replication" if env["name"].startswith("REPLICATION_") else "orders-credentials"
                    assert env["valueFrom"]["secretKeyRef"]["name"] == holder, env

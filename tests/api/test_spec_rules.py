"""Every field, bound, default and business rule of SPEC section 2, with the messages users see."""

from typing import Any

import pytest

from database_api.profiles import DeletionPolicy, Environment, StacksConfig
from database_api.spec import SpecError, parse_spec, resolve_spec, with_defaults


def errors_for(spec: dict[str, Any], config: StacksConfig) -> list[str]:
    with pytest.raises(SpecError) as caught:
        resolve_spec(spec, config)
    return caught.value.errors


def test_minimal_spec_gets_every_default(minimal_spec: dict[str, Any], stacks_config: StacksConfig) -> None:
    resolved = resolve_spec(minimal_spec, stacks_config)
    assert resolved.replicas == 1
    assert resolved.environment is Environment.DEVELOPMENT
    assert resolved.backup is None
    assert resolved.monitoring.enabled is resolved.monitoring.metrics is resolved.monitoring.logging is False
    assert resolved.resources.requests is not None and resolved.resources.limits is not None
    assert (resolved.resources.requests.cpu, resolved.resources.limits.memory) == ("100m", "512Mi")
    assert resolved.deletion_policy is DeletionPolicy.DELETE
    assert resolved.storage_class is None


def test_defaults_are_made_explicit_and_idempotent(minimal_spec: dict[str, Any], stacks_config: StacksConfig) -> None:
    once = with_defaults(parse_spec(minimal_spec), stacks_config)
    twice = with_defaults(parse_spec(once.model_dump(by_alias=True, exclude_none=True)), stacks_config)
    assert once == twice
    stored = once.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert stored["backup"] == {"enabled": False, "schedule": "0 2 * * *", "retention": "7d", "storageSize": "5Gi"}
    assert stored["replicas"] == 1 and stored["environment"] == "development"


def test_fields_the_user_set_are_never_overwritten(stacks_config: StacksConfig) -> None:
    spec = {
        "type": "postgresql",
        "version": "16",
        "replicas": 4,
        "environment": "production",
        "storage": {"size": "5Gi", "class": "gold"},
        "backup": {"enabled": True, "schedule": "@hourly", "retention": "2w"},
        "resources": {"limits": {"cpu": "3", "memory": "6Gi"}},
        "deletionPolicy": "Delete",
    }
    resolved = resolve_spec(spec, stacks_config)
    assert resolved.replicas == 4
    assert resolved.backup is not None and (resolved.backup.schedule, resolved.backup.retention) == ("@hourly", "2w")
    assert resolved.resources.limits is not None and resolved.resources.limits.cpu == "3"
    assert resolved.resources.requests is None
    assert resolved.deletion_policy is DeletionPolicy.DELETE
    assert resolved.storage_class == "gold"


def test_production_defaults(stacks_config: StacksConfig) -> None:
    resolved = resolve_spec(
        {"type": "mysql", "version": "8.4", "environment": "production", "storage": {"size": "10Gi"}}, stacks_config
    )
    assert resolved.replicas == 2
    assert resolved.deletion_policy is DeletionPolicy.RETAIN
    assert resolved.resources.limits is not None and resolved.resources.limits.memory == "4Gi"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"environment": "production", "replicas": 1},
            "spec.replicas: production requires at least 2 replicas (got 1)",
        ),
        (
            {"environment": "production", "replicas": 2, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
            "spec.resources.limits.cpu: production requires resource limits",
        ),
        (
            {"environment": "production", "replicas": 2, "resources": {"limits": {"cpu": "1"}}},
            "spec.resources.limits.memory: production requires resource limits",
        ),
        ({"replicas": 0}, "spec.replicas: Input should be greater than or equal to 1"),
        ({"replicas": 11}, "spec.replicas: Input should be less than or equal to 10"),
        ({"type": "oracle"}, "spec.type: Input should be 'mysql', 'mariadb' or 'postgresql'"),
        ({"environment": "qa"}, "spec.environment: Input should be 'development', 'staging' or 'production'"),
        ({"version": "latest"}, "spec.version: 'latest' is not an image tag that starts with a version number"),
        ({"version": "8.0 && rm"}, "spec.version: '8.0 && rm' is not an image tag"),
        ({"version": "5.7"}, "spec.version: mysql 5.7 is not supported; use 8.0 or newer"),
        ({"storage": {"size": "0"}}, "spec.storage.size: must be greater than zero (got 0)"),
        ({"storage": {"size": "ten gigs"}}, "spec.storage.size: 'ten gigs' is not a Kubernetes quantity"),
        ({"storage": {}}, "spec.storage.size: Field required"),
        ({"backup": {"enabled": True, "schedule": "0 25 * * *"}}, "spec.backup.schedule: hour: 25 is outside 0-23"),
        ({"backup": {"enabled": True, "schedule": "daily"}}, "spec.backup.schedule: 'daily' has 1 fields"),
        ({"backup": {"enabled": True, "retention": "7 days"}}, "spec.backup.retention: '7 days' is not a duration"),
        ({"backup": {"enabled": True, "retention": "0d"}}, "spec.backup.retention: '0d' is not a duration"),
        (
            {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
            "spec.resources.requests.memory: request 2Gi is larger than the limit 1Gi",
        ),
        ({"resources": {"limits": {"cpu": "-1"}}}, "spec.resources.limits.cpu: '-1' is not a Kubernetes quantity"),
        ({"replicaCount": 3}, "spec.replicaCount: Extra inputs are not permitted"),
        # Numbers too large for Kubernetes (or for Python's arithmetic) are refused naming the field.
        ({"storage": {"size": "1e1000000"}}, "spec.storage.size: '1e1000000' is larger than the largest Kubernetes"),
        ({"storage": {"size": "10Ei"}}, "spec.storage.size: '10Ei' is larger than the largest Kubernetes quantity"),
        ({"resources": {"limits": {"memory": "1e99"}}}, "spec.resources.limits.memory: '1e99' is larger than"),
        (
            {"backup": {"enabled": True, "retention": "1000000000d"}},
            "spec.backup.retention: '1000000000d' is too long",
        ),
        ({"backup": {"enabled": True, "schedule": "5/ * * * *"}}, "spec.backup.schedule: minute: step ''"),
        ({"backup": {"enabled": True, "schedule": "0 0 31 2 *"}}, "spec.backup.schedule: '0 0 31 2 *' never runs"),
    ],
)
def test_invalid_specs_are_rejected_naming_the_field(
    minimal_spec: dict[str, Any], stacks_config: StacksConfig, change: dict[str, Any], message: str
) -> None:
    errors = errors_for({**minimal_spec, **change}, stacks_config)
    assert any(error.startswith(message) for error in errors), errors


def test_every_broken_field_is_reported_at_once(minimal_spec: dict[str, Any], stacks_config: StacksConfig) -> None:
    spec = {**minimal_spec, "replicas": 20, "storage": {"size": "-"}, "backup": {"schedule": "x"}}
    fields = [error.split(":")[0] for error in errors_for(spec, stacks_config)]
    assert fields == ["spec.replicas", "spec.storage.size", "spec.backup.schedule"]


def test_a_spec_that_is_not_an_object_is_rejected(stacks_config: StacksConfig) -> None:
    assert errors_for("mysql", stacks_config) == [
        "spec: Input should be a valid dictionary or instance of DatabaseSpec"
    ]


@pytest.mark.parametrize("version", ["8.0", "8.4.3", "9.1", "16", "16.4-bookworm", "17.0_rc1"])
def test_valid_versions(minimal_spec: dict[str, Any], stacks_config: StacksConfig, version: str) -> None:
    engine = "mysql" if version.startswith(("8", "9")) else "postgresql"
    assert resolve_spec({**minimal_spec, "type": engine, "version": version}, stacks_config).version == version

"""The admission webhooks' logic: defaults (idempotent, never overwriting) and create/update rules."""

import datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture

from database_api.profiles import StacksConfig
from database_operator import certificates
from database_operator.admission import admission_errors, defaulted_spec
from database_operator.certificates import ensure_certificate

MINIMAL = {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}}


def test_every_default_is_filled(stacks_config: StacksConfig) -> None:
    assert defaulted_spec(MINIMAL, stacks_config) == {
        **MINIMAL,
        "replicas": 1,
        "environment": "development",
        "backup": {"enabled": False, "schedule": "0 2 * * *", "retention": "7d", "storageSize": "5Gi"},
        "monitoring": {"enabled": False, "metrics": False, "logging": False},
        "network": {},  # no selectors: the namespace's pods as clients, the namespace monitoring as scrapers
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "deletionPolicy": "Delete",
        "driftPolicy": "Correct",
        "updatePolicy": "Automatic",
    }


def test_defaulting_is_idempotent_and_keeps_user_values(stacks_config: StacksConfig) -> None:
    mine = {**MINIMAL, "environment": "staging", "replicas": 3, "backup": {"enabled": True, "retention": "12h"}}
    once = defaulted_spec(mine, stacks_config)
    assert once is not None
    assert defaulted_spec(once, stacks_config) == once
    assert once["replicas"] == 3 and once["backup"]["retention"] == "12h" and once["backup"]["schedule"] == "0 2 * * *"


def test_defaults_follow_an_environment_change_but_choices_stay(stacks_config: StacksConfig) -> None:
    stored = defaulted_spec(MINIMAL, stacks_config)
    assert stored is not None
    chosen = {**stored, "replicas": 4}
    moved = defaulted_spec({**chosen, "environment": "production"}, stacks_config, old=chosen)
    assert moved is not None
    assert moved["resources"]["limits"] == {"cpu": "2000m", "memory": "4Gi"}
    assert moved["deletionPolicy"] == "Retain"
    assert moved["replicas"] == 4  # chosen by the user, not a development default


@pytest.mark.parametrize(
    ("field", "value"),
    [("replicas", "3"), ("replicas", True), ("monitoring", {"enabled": True, "metrics": "yes", "logging": False})],
)
def test_defaulting_never_converts_a_value_the_user_wrote(stacks_config: StacksConfig, field: str, value: Any) -> None:
    """A wrong type reaches the schema as written, and is refused there, instead of being stored converted."""
    defaulted = defaulted_spec({**MINIMAL, field: value}, stacks_config)
    assert defaulted is not None and defaulted[field] == value and type(defaulted[field]) is type(value)
    assert defaulted["deletionPolicy"] == "Delete"  # the defaults it lacked are still added


def test_an_environment_change_never_overrides_a_value_the_same_update_sets(stacks_config: StacksConfig) -> None:
    stored = defaulted_spec({**MINIMAL, "replicas": 3}, stacks_config)
    assert stored is not None
    update = {**stored, "environment": "production", "replicas": 1}  # replicas 1 is development's default
    defaulted = defaulted_spec(update, stacks_config, old=stored)
    assert defaulted is not None and defaulted["replicas"] == 1
    assert admission_errors(defaulted, stored, stacks_config) == [
        "spec.replicas: production requires at least 2 replicas (got 1)"
    ]


def test_an_environment_change_replaces_the_defaults_stored_before(stacks_config: StacksConfig) -> None:
    stored = defaulted_spec(MINIMAL, stacks_config)  # replicas 1: development's default, stored by defaulting
    assert stored is not None
    defaulted = defaulted_spec({**stored, "environment": "production"}, stacks_config, old=stored)
    assert defaulted is not None and defaulted["replicas"] == 2


def test_a_broken_spec_is_left_for_validation_to_refuse(stacks_config: StacksConfig) -> None:
    assert defaulted_spec({**MINIMAL, "replicas": "many"}, stacks_config) is None
    assert admission_errors({**MINIMAL, "replicas": "many"}, None, stacks_config) == [
        "spec.replicas: Input should be a valid integer, unable to parse string as an integer"
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ({"type": "mysql"}, {"type": "postgresql", "version": "16"}, "spec.type: cannot change after creation"),
        ({"storage": {"size": "10Gi"}}, {"storage": {"size": "5Gi"}}, "spec.storage.size: storage cannot shrink"),
        ({"storage": {"size": "1Gi", "class": "a"}}, {"storage": {"size": "1Gi", "class": "b"}}, "spec.storage.class"),
        ({"storage": {"size": "1Gi"}}, {"storage": {"size": "1Gi", "class": "b"}}, "spec.storage.class"),
        ({"version": "8.4"}, {"version": "8.0"}, "spec.version: downgrades are refused (from 8.4 to 8.0)"),
        ({}, {"restore": {"backup": "nightly"}}, "spec.restore: can only be set when the Database is created"),
        (
            {"backup": {"storageSize": "20Gi"}},
            {"backup": {"storageSize": "10Gi"}},
            "spec.backup.storageSize: backup storage cannot shrink (from 20Gi to 10Gi)",
        ),
    ],
)
def test_update_rules(stacks_config: StacksConfig, old: dict[str, Any], new: dict[str, Any], message: str) -> None:
    errors = admission_errors({**MINIMAL, **new}, {**MINIMAL, **old}, stacks_config)
    assert any(error.startswith(message) for error in errors), errors


def test_an_update_that_leaves_the_spec_alone_is_never_refused(stacks_config: StacksConfig) -> None:
    """E.g. kopf removing its finalizer from a Database stored before a rule got stricter."""
    stored_under_old_rules = {**MINIMAL, "environment": "production", "replicas": 1}
    assert admission_errors(stored_under_old_rules, stored_under_old_rules, stacks_config) == []
    assert admission_errors({**stored_under_old_rules, "replicas": 0}, stored_under_old_rules, stacks_config)


@pytest.mark.parametrize(
    "new", [{"version": "8.4"}, {"storage": {"size": "20Gi"}}, {"replicas": 3}, {"environment": "staging"}]
)
def test_allowed_updates(stacks_config: StacksConfig, new: dict[str, Any]) -> None:
    assert admission_errors({**MINIMAL, **new}, MINIMAL, stacks_config) == []


def test_certificates_are_made_reused_and_renewed_under_the_same_ca(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, ["127.0.0.1"])
    assert first.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    serving = first.certfile.read_bytes()
    assert ensure_certificate(tmp_path, ["127.0.0.1"]).certfile.read_bytes() == serving  # still good: kept

    moved = ensure_certificate(tmp_path, ["database-operator.database-operator.svc"])
    assert moved.certfile.read_bytes() != serving  # a new name needs a new certificate...
    assert moved.ca_pem == first.ca_pem  # ...from the same CA, so the webhooks' caBundle stays valid
    assert oct(moved.keyfile.stat().st_mode & 0o777) == "0o600"


def test_a_mounted_certificate_is_used_as_it_is(tmp_path: Path) -> None:
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (tmp_path / name).write_text(f"mounted {name}")
    assert ensure_certificate(tmp_path, ["x"]).ca_pem == b"mounted ca.crt"


def test_a_certificate_near_expiry_is_renewed_by_the_same_ca(tmp_path: Path, mocker: MockerFixture) -> None:
    first = ensure_certificate(tmp_path, ["127.0.0.1"])
    serving = first.certfile.read_bytes()
    mocker.patch.object(certificates, "RENEW_BEFORE", datetime.timedelta(days=400))  # a year left is "near" now
    renewed = ensure_certificate(tmp_path, ["127.0.0.1"])
    assert renewed.certfile.read_bytes() != serving
    assert renewed.ca_pem == first.ca_pem

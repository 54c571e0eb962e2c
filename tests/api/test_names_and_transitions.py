"""Names that cannot work and version changes that cannot work are refused, in Python and as CEL in the CRD."""

from typing import Any

import pytest

from database_api.crd import database_crd
from database_api.name_rules import NAME_LIMIT, name_violations
from database_api.profiles import StacksConfig
from database_api.spec import parse_spec, update_violations, version_numbers


@pytest.mark.parametrize("name", ["a", "orders", "orders-eu-2", "x" * NAME_LIMIT])
def test_names_that_work(name: str) -> None:
    assert name_violations(name) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x" * 70, "metadata.name: at most 45 characters (got 70)"),
        ("x" * 60, "metadata.name: at most 45 characters (got 60)"),
        ("dotted.name", "metadata.name: 'dotted.name' must consist of lower-case letters"),
        ("1st", "metadata.name: '1st' must consist of lower-case letters"),
        ("ends-", "metadata.name: 'ends-' must consist of lower-case letters"),
    ],
)
def test_names_that_cannot_work_are_refused_naming_metadata_name(name: str, expected: str) -> None:
    assert any(error.startswith(expected) for error in name_violations(name)), name_violations(name)


def test_the_crd_refuses_the_same_names(stacks_config: StacksConfig) -> None:
    root = database_crd(stacks_config)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    name = root["properties"]["metadata"]["properties"]["name"]
    assert (name["maxLength"], name["pattern"]) == (NAME_LIMIT, "^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("version", "numbers"),
    [("16", (16, 0, 0)), ("16.4-bookworm", (16, 4, 0)), ("8.4.3", (8, 4, 3)), ("8.0.36.1", (8, 0, 36))],
)
def test_version_numbers_are_major_minor_patch(version: str, numbers: tuple[int, int, int]) -> None:
    assert version_numbers(version) == numbers


def _spec(**fields: Any) -> Any:
    return parse_spec({"type": "postgresql", "version": "16", "storage": {"size": "1Gi"}, **fields})


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"version": "16"}, {"version": "17"}, "spec.version: a PostgreSQL major version change is refused"),
        ({"version": "16.4"}, {"version": "15.8"}, "spec.version: downgrades are refused (from 16.4 to 15.8)"),
        ({"version": "16.4"}, {"version": "16.2"}, "spec.version: downgrades are refused (from 16.4 to 16.2)"),
        ({"storage": {"size": "2Gi"}}, {"storage": {"size": "1Gi"}}, "spec.storage.size: storage cannot shrink"),
        ({}, {"storage": {"size": "1Gi", "class": "fast"}}, "spec.storage.class: cannot change"),
        ({}, {"type": "mysql", "version": "16"}, "spec.type: cannot change after creation"),
    ],
)
def test_update_rules_name_the_field(old: dict[str, Any], new: dict[str, Any], expected: str) -> None:
    errors = update_violations(_spec(**old), _spec(**new))
    assert any(error.startswith(expected) for error in errors), errors


def test_the_major_change_message_says_what_to_do_instead() -> None:
    [error] = update_violations(_spec(version="16"), _spec(version="17"))
    assert "restore a backup into a new Database" in error and "(from 16 to 17)" in error


@pytest.mark.parametrize(("old", "new"), [("16", "16.4"), ("16.4", "16.4-bookworm"), ("16.0", "16"), ("16.2", "16.4")])
def test_minor_upgrades_and_equal_versions_are_allowed(old: str, new: str) -> None:
    assert update_violations(_spec(version=old), _spec(version=new)) == []


def test_mysql_major_upgrades_are_allowed() -> None:
    old = parse_spec({"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}})
    assert update_violations(old, old.model_copy(update={"version": "8.4"})) == []


def test_the_crd_has_the_update_rules_as_transition_rules(stacks_config: StacksConfig) -> None:
    spec = database_crd(stacks_config)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    transitions = [rule for rule in spec["x-kubernetes-validations"] if "oldSelf" in rule["rule"]]
    assert {rule["fieldPath"] for rule in transitions} == {".version", ".storage"}
    assert any("self.type != 'postgresql'" in rule["rule"] for rule in transitions)

"""The committed CRD is exactly what the model generates, and it carries what `kubectl` users rely on."""

from typing import Any

import pytest
import yaml

from database_api.crd import CRD_FILE, database_backup_crd, database_crd, render_crd
from database_api.profiles import StacksConfig
from database_operator.cli import main


def test_committed_crd_is_current(stacks_config: StacksConfig) -> None:
    assert CRD_FILE.read_text() == render_crd(stacks_config), "crds/ is stale: run `database-operator crd --write`"


def test_cli_prints_the_committed_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == CRD_FILE.read_text()
    assert main(["crd", "--check"]) == 0


@pytest.fixture
def version(stacks_config: StacksConfig) -> dict[str, Any]:
    crd = database_crd(stacks_config)
    assert crd["metadata"]["name"] == "databases.database.example.com"
    [served] = crd["spec"]["versions"]
    return served


def test_names_scale_and_status(stacks_config: StacksConfig, version: dict[str, Any]) -> None:
    names = database_crd(stacks_config)["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == ("Database", "databases", ["db"])
    assert version["name"] == "v1"
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns == ["Type", "Version", "Replicas", "Environment", "Ready", "Phase", "Plan", "Age"]
    [plan] = [column for column in version["additionalPrinterColumns"] if column["name"] == "Plan"]
    assert plan["priority"] == 1  # kubectl get -o wide


def test_schema_is_structural_and_explained(version: dict[str, Any]) -> None:
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    text = yaml.safe_dump(spec)
    # additionalProperties only as the schema of a map's values (label selectors), never `false`
    for keyword in ("$ref", "anyOf", "title", "additionalProperties: false", "default: null"):
        assert keyword not in text
    backup = spec["properties"]["backup"]
    assert backup["description"] and all(field["description"] for field in backup["properties"].values())
    assert spec["properties"]["environment"]["default"] == "development"
    assert spec["properties"]["monitoring"]["default"] == {}
    assert spec["required"] == ["type", "version", "storage"]


def test_business_rules_and_immutability_are_cel_rules(version: dict[str, Any]) -> None:
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = {rule["fieldPath"]: rule for rule in spec["x-kubernetes-validations"]}
    assert "self.replicas >= 2" in rules[".replicas"]["rule"]
    assert "has(self.resources.limits.memory)" in rules[".resources.limits"]["rule"]
    assert spec["properties"]["type"]["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"
    assert (
        "quantity(self)" in spec["properties"]["storage"]["properties"]["size"]["x-kubernetes-validations"][0]["rule"]
    )


def test_changing_stacks_config_changes_the_cel_rules(stacks_config: StacksConfig) -> None:
    staging = stacks_config.environments
    stricter = stacks_config.model_copy(
        update={"environments": {**staging, "staging": staging["staging"].model_copy(update={"min_replicas": 3})}}
    )
    rules = database_crd(stricter)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "x-kubernetes-validations"
    ]
    assert any("'staging'" in rule["rule"] and ">= 3" in rule["rule"] for rule in rules)


def test_the_database_backup_kind() -> None:
    crd = database_backup_crd()
    assert crd["metadata"]["name"] == "databasebackups.database.example.com"
    [version] = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    assert schema["spec"]["required"] == ["database"]
    assert schema["spec"]["properties"]["database"]["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"
    assert {"phase", "inProgress", "startTime", "completionTime", "artifact", "sizeBytes"} <= set(
        schema["status"]["properties"]
    )

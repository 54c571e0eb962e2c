"""Stacks the operator makes on disk (file_backend.py) are stacks to the real CLI, and the other way round."""

import json
from pathlib import Path

import pulumi
import pytest
import yaml

from database_operator.file_backend import LEGACY_LAYOUT_VARIABLE, META, FileBackend
from database_operator.passphrase import Passphrase, decrypt_with_key
from database_operator.settings import OperatorSettings
from database_operator.stacks import StackInput, Stacks
from tests.e2e.cluster import toolchain_bin
from tests.operator.pulumi_cli import PulumiCli

PASSPHRASE = "file backend"


@pytest.fixture
def cli(tmp_path: Path) -> PulumiCli:
    return PulumiCli(tmp_path, PASSPHRASE)


def url(path: Path) -> str:
    return f"file://{path}"


def made_on_disk(root: Path) -> FileBackend:
    FileBackend.prepare(url(root))
    backend = FileBackend.of(url(root))
    assert backend is not None
    return backend


def test_a_new_backend_is_laid_out_as_the_cli_lays_out_one(tmp_path: Path, cli: PulumiCli) -> None:
    cli.run("stack", "ls", "--json")  # the CLI lays out its new, empty backend
    made_on_disk(tmp_path / "ours")
    assert yaml.safe_load((tmp_path / "ours" / META).read_text()) == yaml.safe_load((cli.backend / META).read_text())


def test_the_cli_knows_a_stack_made_on_disk(cli: PulumiCli) -> None:
    backend = made_on_disk(cli.backend)
    assert backend.create_stack("database", "shop.orders")
    assert [stack["name"] for stack in json.loads(cli.run("stack", "ls", "--json"))] == ["shop.orders"]
    cli.run("stack", "select", "shop.orders")  # fails for a stack the CLI does not know
    assert not backend.create_stack("database", "shop.orders")  # never one over another


def test_a_stack_the_cli_made_is_known_on_disk(cli: PulumiCli) -> None:
    cli.run("stack", "init", "shop.orders", "--secrets-provider", "passphrase")
    backend = FileBackend.of(url(cli.backend))
    assert backend is not None
    assert backend.has_stack("database", "shop.orders") and not backend.has_stack("database", "shop.other")
    assert not backend.create_stack("database", "shop.orders")


def test_a_backend_in_another_layout_is_left_to_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = tmp_path / "legacy"
    (legacy / ".pulumi" / "stacks").mkdir(parents=True)
    (legacy / ".pulumi" / "stacks" / "orders.json").write_text('{"version":0,"checkpoint":{"stack":"orders"}}')
    FileBackend.prepare(url(legacy))
    assert FileBackend.of(url(legacy)) is None and not (legacy / META).exists()

    monkeypatch.setenv(LEGACY_LAYOUT_VARIABLE, "true")
    FileBackend.prepare(url(tmp_path / "new"))
    assert FileBackend.of(url(tmp_path / "new")) is None
    assert FileBackend.of("s3://bucket/state") is None


def test_a_stack_made_on_disk_deploys_with_the_passwords_the_operator_encrypted(
    tmp_path: Path, cli: PulumiCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path through the real CLI: Stacks makes the stack on disk (its backend is the CLI's here),
    writes the configuration with passwords encrypted under its salt, and `up` runs with them."""
    monkeypatch.setenv("PATH", f"{toolchain_bin()}:{cli.env['PATH']}")
    monkeypatch.setenv("PULUMI_HOME", cli.env["PULUMI_HOME"])

    def program() -> None:
        config = pulumi.Config("database")
        pulumi.export("name", config.require("name"))
        pulumi.export("adminPassword", config.require_secret("adminPassword"))

    stacks = Stacks(OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE), program=program)
    request = StackInput(namespace="shop", name="orders", spec={}, engine_profile={}, environment_profile={})
    outcome = stacks.up(request)

    assert outcome.changes == {"create": 1} and outcome.outputs == {"name": "orders"}
    document = yaml.safe_load(stacks.stack_settings_file("shop.orders").read_text())
    password = decrypt_with_key(
        Passphrase(PASSPHRASE).key(document["encryptionsalt"]), document["config"]["database:adminPassword"]["secure"]
    )
    assert cli.run("stack", "output", "adminPassword", "--show-secrets", "--stack", "shop.orders") == password

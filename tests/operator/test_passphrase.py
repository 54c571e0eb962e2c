"""Passwords the operator encrypts in Python must be exactly what the real Pulumi CLI decrypts, and back."""

from pathlib import Path

import pytest
import yaml

from database_operator.passphrase import Passphrase, WrongPassphrase, decrypt_with_key
from tests.operator.pulumi_cli import PulumiCli

PASSPHRASE = "correct horse"


@pytest.fixture(scope="module")
def passphrase() -> Passphrase:
    return Passphrase(PASSPHRASE)


@pytest.fixture
def pulumi(tmp_path: Path) -> PulumiCli:
    return PulumiCli(tmp_path, PASSPHRASE)


def test_the_cli_decrypts_what_the_operator_encrypted(passphrase: Passphrase, pulumi: PulumiCli) -> None:
    salt = passphrase.salt_state
    settings = {
        "encryptionsalt": salt,
        "config": {"database:adminPassword": {"secure": passphrase.encrypt(salt, "s3cr3t")}},
    }
    pulumi.settings("shop.orders").write_text(yaml.safe_dump(settings))

    pulumi.run("stack", "init", "shop.orders", "--secrets-provider", "passphrase")

    assert yaml.safe_load(pulumi.settings("shop.orders").read_text())["encryptionsalt"] == salt  # adopted, not replaced
    assert pulumi.run("config", "get", "database:adminPassword", "--stack", "shop.orders") == "s3cr3t"


def test_the_operator_decrypts_what_the_cli_encrypted(passphrase: Passphrase, pulumi: PulumiCli) -> None:
    pulumi.run("stack", "init", "shop.orders", "--secrets-provider", "passphrase")
    pulumi.run("config", "set", "--secret", "database:adminPassword", "from-the-cli", "--stack", "shop.orders")

    document = yaml.safe_load(pulumi.settings("shop.orders").read_text())
    key = passphrase.key(document["encryptionsalt"])
    assert decrypt_with_key(key, document["config"]["database:adminPassword"]["secure"]) == "from-the-cli"


def test_a_salt_made_under_another_passphrase_is_refused(passphrase: Passphrase) -> None:
    with pytest.raises(WrongPassphrase):
        Passphrase("another one").key(passphrase.salt_state)


def test_one_process_gives_its_stacks_one_salt(passphrase: Passphrase) -> None:
    assert passphrase.salt_state == passphrase.salt_state
    assert Passphrase(PASSPHRASE).salt_state != passphrase.salt_state  # but no two processes share one

"""Passwords the operator encrypts in Python must be exactly what the real Pulumi CLI decrypts, and back."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from database_operator.passphrase import Passphrase, WrongPassphrase, decrypt_with_key
from tests.e2e.cluster import toolchain_bin

PASSPHRASE = "correct horse"


@pytest.fixture(scope="module")
def passphrase() -> Passphrase:
    return Passphrase(PASSPHRASE)


@pytest.fixture
def pulumi(tmp_path: Path) -> "Pulumi":
    return Pulumi(tmp_path)


class Pulumi:
    """The real CLI in a workspace of its own, with a file backend."""

    def __init__(self, root: Path) -> None:
        self.work_dir = root / "workspace"
        self.work_dir.mkdir()
        (root / "backend").mkdir()
        (self.work_dir / "Pulumi.yaml").write_text("name: database\nruntime: python\n")
        self.env = {
            **os.environ,
            "PATH": f"{toolchain_bin()}:{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.work_dir,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def settings(self, stack: str) -> Path:
        return self.work_dir / f"Pulumi.{stack}.yaml"


def test_the_cli_decrypts_what_the_operator_encrypted(passphrase: Passphrase, pulumi: Pulumi) -> None:
    salt = passphrase.salt_state
    settings = {
        "encryptionsalt": salt,
        "config": {"database:adminPassword": {"secure": passphrase.encrypt(salt, "s3cr3t")}},
    }
    pulumi.settings("shop.orders").write_text(yaml.safe_dump(settings))

    pulumi.run("stack", "init", "shop.orders", "--secrets-provider", "passphrase")

    assert yaml.safe_load(pulumi.settings("shop.orders").read_text())["encryptionsalt"] == salt  # adopted, not replaced
    assert pulumi.run("config", "get", "database:adminPassword", "--stack", "shop.orders") == "s3cr3t"


def test_the_operator_decrypts_what_the_cli_encrypted(passphrase: Passphrase, pulumi: Pulumi) -> None:
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

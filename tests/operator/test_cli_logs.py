"""The Pulumi CLI's automatic debug logs are off in the operator's PULUMI_HOME, and only there."""

import logging
from pathlib import Path

import pytest

from database_operator.cli_logs import switch_off_cli_logs
from tests.operator.pulumi_cli import PulumiCli


@pytest.fixture
def cli(tmp_path: Path) -> PulumiCli:
    return PulumiCli(tmp_path, "test-passphrase")


def cli_logs(cli: PulumiCli) -> list[Path]:
    """Every file the CLI could have logged into, wherever under its home."""
    return list(Path(cli.env["PULUMI_HOME"]).rglob("*.log"))


def test_the_cli_writes_a_debug_log_of_every_run_unless_switched_off(cli: PulumiCli) -> None:
    cli.run("stack", "init", "shop.orders")
    assert cli_logs(cli), "the CLI no longer logs on its own: cli_logs.py has nothing to switch off"


def test_switched_off_the_cli_writes_no_log_and_still_works(cli: PulumiCli) -> None:
    switch = switch_off_cli_logs(cli.env)

    cli.run("stack", "init", "shop.orders")
    cli.run("config", "set", "--secret", "password", "s3cret", "--stack", "shop.orders")

    assert cli.run("stack", "ls", "--json").count("shop.orders") == 1
    assert cli_logs(cli) == []
    assert switch is not None and switch.is_file()


def test_a_home_of_only_the_clis_logs_is_cleared(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "organization+database+shop.orders-20261128T101010.log").write_bytes(b"\x1f\x8b")

    switch_off_cli_logs({"PULUMI_HOME": str(tmp_path)})

    assert logs.is_file()


def test_a_logs_directory_holding_anything_else_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "notes.txt").write_text("mine")

    with caplog.at_level(logging.WARNING):
        assert switch_off_cli_logs({"PULUMI_HOME": str(tmp_path)}) is None

    assert (logs / "notes.txt").read_text() == "mine"
    assert "notes.txt" in caplog.text


def test_a_persons_own_pulumi_home_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    assert switch_off_cli_logs({}) is None

    assert not (tmp_path / ".pulumi").exists()


def test_switching_off_twice_keeps_the_switch(tmp_path: Path) -> None:
    first = switch_off_cli_logs({"PULUMI_HOME": str(tmp_path)})
    second = switch_off_cli_logs({"PULUMI_HOME": str(tmp_path)})

    assert first == second and second is not None and second.is_file()


def test_a_logs_directory_that_cannot_be_replaced_is_no_reason_to_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pulumi-20261128T101010-42-up.log").write_bytes(b"\x1f\x8b")

    def busy(path: Path) -> None:
        raise OSError(39, "Directory not empty", str(path))

    monkeypatch.setattr("database_operator.cli_logs.shutil.rmtree", busy)
    with caplog.at_level(logging.WARNING):
        assert switch_off_cli_logs({"PULUMI_HOME": str(tmp_path)}) is None

    assert "Directory not empty" in caplog.text

"""Command-line failures print one clear message and its cause, never a wall of tracebacks."""

import logging
import shutil
from pathlib import Path

import grpc
import pytest
from pulumi import automation as auto

from database_operator.automation import quiet_program_server
from database_operator.cli import main
from database_operator.stack_errors import classify


def test_a_broken_stacks_config_is_one_line_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "stacks-config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "stacks-config", config)
    production = config / "environments" / "production.yaml"
    production.write_text(production.read_text().replace('schedule: "0 2 * * *"', 'schedule: "99 * * * *"'))
    monkeypatch.setenv("DATABASE_STACKS_CONFIG", str(config))
    assert main(["crd"]) == 1
    assert capsys.readouterr().err == (
        "error: cannot load stacks-config: environments.production.backup.schedule: minute: 99 is outside 0-59\n"
    )


def test_run_with_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://?endpoint=http://seaweedfs:8333")
    assert main(["run"]) == 1
    assert capsys.readouterr().err == (
        "error: PULUMI_BACKEND_URL: 's3://?endpoint=http://seaweedfs:8333' names no bucket (s3://<bucket>)\n"
    )


def test_a_failed_preview_is_its_specific_errors_once() -> None:
    specific = (
        'error: Preview failed: resource "urn:pulumi:shop.orders::database::kubernetes:apps/v1:StatefulSet::orders" '
        'was not successfully created by the Kubernetes API server: StatefulSet.apps "orders" is invalid: spec: '
        "Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden"
    )
    stderr = f"{specific}\nerror: preview failed\n"
    error = classify(auto.CommandError(auto.CommandResult(stdout=f"Previewing\n{specific}\n", stderr=stderr, code=1)))
    assert str(error) == specific and not error.transient


class EngineGone(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "failed to connect to all addresses"


def test_the_program_server_s_complaint_about_a_gone_engine_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    quiet_program_server()
    server = logging.getLogger("grpc._server")
    with caplog.at_level(logging.INFO):
        try:
            raise EngineGone()
        except grpc.RpcError:
            server.exception("Exception calling application: engine gone")
        try:
            raise ValueError("a real bug")
        except ValueError:
            server.exception("Exception calling application: a real bug")
    assert "engine gone" not in caplog.text
    assert "a real bug" in caplog.text  # anything else is still logged in full

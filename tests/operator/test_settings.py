"""Settings come from the environment; a bad one stops the operator with the variable's name."""

from pathlib import Path

import pytest

from database_api.network import OperatorPeers
from database_operator.settings import SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv("DBOP_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    settings = load_settings()
    assert settings.effective_backend_url == f"file://{tmp_path}/backend"
    assert settings.max_concurrent_operations == 4
    assert settings.namespaces == ()


def test_passphrase_from_a_mounted_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "passphrase").write_text("from-file\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "passphrase"))
    assert load_settings().passphrase == "from-file"


def test_any_backend_url_is_used_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket/prefix?region=eu-west-1")
    assert load_settings().effective_backend_url == "s3://bucket/prefix?region=eu-west-1"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DBOP_MAX_OPERATIONS", "many", "DBOP_MAX_OPERATIONS: 'many' is not a number"),
        ("DBOP_DRIFT_INTERVAL", "0", "DBOP_DRIFT_INTERVAL: must be positive"),
    ],
)
def test_bad_numbers_are_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_no_passphrase_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    with pytest.raises(SettingsError, match="PULUMI_CONFIG_PASSPHRASE"):
        load_settings()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s4://bucket", "PULUMI_BACKEND_URL: 's4://bucket' is not a Pulumi state backend URL (one of file://, s3://"),
        ("bucket/state", "PULUMI_BACKEND_URL: 'bucket/state' is not a Pulumi state backend URL"),
        ("s3://?region=eu-west-1", "PULUMI_BACKEND_URL: 's3://?region=eu-west-1' names no bucket (s3://<bucket>)"),
        (
            "s3://state?endpoint=127.0.0.1:8333&s3ForcePathStyle=true",
            "PULUMI_BACKEND_URL: endpoint '127.0.0.1:8333' is not an http:// or https:// URL with a host",
        ),
    ],
)
def test_a_malformed_backend_url_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv("PULUMI_BACKEND_URL", url)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value).startswith(message)


def test_an_s3_compatible_server_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "s3://dbop-state?endpoint=http://seaweedfs.storage:8333&s3ForcePathStyle=true&region=us-east-1"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv("PULUMI_BACKEND_URL", url)
    assert load_settings().effective_backend_url == url


def test_the_operator_peers_come_from_its_pod_namespace_and_source_cidrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv("POD_NAMESPACE", "database-operator")
    monkeypatch.setenv("DBOP_OPERATOR_CIDRS", " 192.0.2.7, 198.51.100.0/24,")
    assert load_settings().operator_peers == OperatorPeers(
        namespace="database-operator", cidrs=("192.0.2.7/32", "198.51.100.0/24")
    )
    monkeypatch.delenv("POD_NAMESPACE")
    monkeypatch.delenv("DBOP_OPERATOR_CIDRS")
    assert load_settings().operator_peers == OperatorPeers()


@pytest.mark.parametrize("value", ["172.30.0.1/33", "host.example", "192.0.2.1/24"])
def test_a_bad_operator_cidr_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "p")
    monkeypatch.setenv("DBOP_OPERATOR_CIDRS", f"192.0.2.0/24,{value}")
    with pytest.raises(SettingsError, match=f"DBOP_OPERATOR_CIDRS: '{value}' is not a CIDR"):
        load_settings()

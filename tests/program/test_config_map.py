"""The `<name>-config` ConfigMap: engine configuration tuned per environment, valid for the version."""

import pytest

from tests.program.conftest import RenderSpec


def config_file(render: RenderSpec, engine: str, environment: str, **extra: object) -> str:
    version = "8.0" if engine == "mysql" else "16"
    spec = {"type": engine, "version": version, "environment": environment, "storage": {"size": "1Gi"}, **extra}
    data = render(spec).get("ConfigMap", "orders-config")["data"]
    return data["database.cnf" if engine == "mysql" else "postgresql.conf"]


@pytest.mark.parametrize(
    ("environment", "buffer_pool"), [("development", "128M"), ("staging", "256M"), ("production", "1G")]
)
def test_mysql_configuration(render: RenderSpec, environment: str, buffer_pool: str) -> None:
    text = config_file(render, "mysql", environment)
    lines = text.splitlines()
    assert lines[0] == "[mysqld]"
    assert "bind-address = 0.0.0.0" in lines
    assert "port = 3306" in lines
    assert "max_connections = 100" in lines
    assert f"innodb_buffer_pool_size = {buffer_pool}" in lines
    assert ("innodb_log_file_size = 256M" in lines) == (environment == "production")
    assert "datadir = /var/lib/mysql/data" in lines
    # query_cache_* was removed in MySQL 8.0: the server refuses to start with it.
    assert "query_cache" not in text


@pytest.mark.parametrize(
    ("environment", "shared_buffers", "cache"),
    [("development", "128MB", "256MB"), ("staging", "256MB", "512MB"), ("production", "1GB", "2GB")],
)
def test_postgresql_configuration(render: RenderSpec, environment: str, shared_buffers: str, cache: str) -> None:
    lines = config_file(render, "postgresql", environment).splitlines()
    assert "listen_addresses = '*'" in lines
    assert "port = 5432" in lines
    assert "max_connections = 100" in lines
    assert f"shared_buffers = {shared_buffers}" in lines
    assert f"effective_cache_size = {cache}" in lines
    assert ("wal_buffers = 16MB" in lines) == (environment == "production")


def test_logging_settings_only_when_monitoring_logging_is_on(render: RenderSpec) -> None:
    quiet = config_file(render, "postgresql", "development")
    logged = config_file(render, "postgresql", "development", monitoring={"enabled": True, "logging": True})
    assert "log_min_duration_statement" not in quiet
    assert "log_min_duration_statement = 1000" in logged.splitlines()

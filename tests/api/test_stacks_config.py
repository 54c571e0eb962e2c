"""`stacks-config/` is data: validated at start-up, and a changed number changes what gets deployed."""

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from database_api.profiles import STACKS_CONFIG_ENV, default_stacks_config_dir, load_stacks_config
from database_api.spec import resolve_spec

SOURCE = Path(__file__).resolve().parents[2] / "stacks-config"


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "stacks-config"
    shutil.copytree(SOURCE, target)
    return target


def edit(path: Path, change: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data))


def test_a_changed_number_changes_the_deployment(config_copy: Path) -> None:
    edit(config_copy / "environments" / "staging.yaml", {"replicas": 3})
    spec = {"type": "mysql", "version": "8.0", "environment": "staging", "storage": {"size": "1Gi"}}
    assert resolve_spec(spec, load_stacks_config(SOURCE)).replicas == 1
    assert resolve_spec(spec, load_stacks_config(config_copy)).replicas == 3


def test_invalid_data_is_refused_at_start_up(config_copy: Path) -> None:
    edit(
        config_copy / "environments" / "production.yaml",
        {"backup": {"schedule": "99 * * * *", "retention": "7d", "storageSize": "1Gi"}},
    )
    with pytest.raises(ValidationError, match=r"minute: 99 is outside 0-59"):
        load_stacks_config(config_copy)


def test_a_missing_environment_file_is_an_error(config_copy: Path) -> None:
    (config_copy / "environments" / "staging.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"staging\.yaml"):
        load_stacks_config(config_copy)


def test_unknown_keys_are_typos_not_silently_ignored(config_copy: Path) -> None:
    edit(config_copy / "environments" / "development.yaml", {"replcias": 2})
    with pytest.raises(ValidationError, match="replcias"):
        load_stacks_config(config_copy)


def test_the_directory_can_be_pointed_at(monkeypatch: pytest.MonkeyPatch, config_copy: Path) -> None:
    monkeypatch.setenv(STACKS_CONFIG_ENV, str(config_copy))
    assert default_stacks_config_dir() == config_copy


def _set_exporter_connection(config_copy: Path, engine: str, connection: object) -> None:
    engines_file = config_copy / "engines.yaml"
    engines = yaml.safe_load(engines_file.read_text())
    engines[engine]["exporter"]["connection"] = connection
    engines_file.write_text(yaml.safe_dump(engines))


def test_an_unknown_exporter_connection_is_refused_naming_the_field(config_copy: Path) -> None:
    _set_exporter_connection(config_copy, "mariadb", "flags")
    with pytest.raises(ValidationError, match=r"engines\.mariadb\.exporter\.connection\n.*'mysqldFlags'"):
        load_stacks_config(config_copy)


def test_an_exporter_connection_of_another_engine_is_refused_naming_the_field(config_copy: Path) -> None:
    _set_exporter_connection(config_copy, "postgresql", "dataSourceName")
    with pytest.raises(ValidationError, match=r"engines\.postgresql\.exporter\.connection: dataSourceName is not"):
        load_stacks_config(config_copy)


def test_custom_exporter_queries_are_refused_where_the_exporter_cannot_read_them(config_copy: Path) -> None:
    engines_file = config_copy / "engines.yaml"
    engines = yaml.safe_load(engines_file.read_text())
    engines["mariadb"]["exporter"]["queries"] = {"x": {"query": "SELECT 1 AS one", "metrics": []}}
    engines_file.write_text(yaml.safe_dump(engines))
    with pytest.raises(ValidationError, match=r"engines\.mariadb\.exporter\.queries: only postgres_exporter"):
        load_stacks_config(config_copy)

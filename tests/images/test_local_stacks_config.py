"""stacks-config-local/ points the product at the locally built images, by configuration: an overlay that changes
only the image names of stacks-config/ (and what the older exporters need: how they take their connection, a
query for the lag postgres_exporter 0.11 lacks), and only to images that toolchain/images.sh builds."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from database_api.profiles import STACKS_CONFIG_ENV, Engine, load_stacks_config
from tests.images.conftest import RECIPES, REPOSITORY, recipe

LOCAL = REPOSITORY / "stacks-config-local"
BUILT_REFS = {recipe(path.stem)["ref"]: path.stem for path in RECIPES.glob("*.json")}


# What the overlay names per engine: the server image (the Database's spec.version is its tag), the exporter and
# how that exporter's version takes its connection (Debian's mysqld_exporter 0.14 predates the 0.15 flags).
LOCAL_IMAGES = {
    Engine.POSTGRESQL: ("localhost/postgresql", "15", "localhost/prometheus-postgres-exporter:0.11.1", "dataSourceUri"),
    Engine.MARIADB: ("localhost/mariadb", "10.11", "localhost/prometheus-mysqld-exporter:0.14.0", "dataSourceName"),
}


def test_only_the_images_differ_from_the_base() -> None:
    base = load_stacks_config(REPOSITORY / "stacks-config").model_dump(by_alias=True)
    local = load_stacks_config(LOCAL).model_dump(by_alias=True)
    for engine, (image, _, exporter, connection) in LOCAL_IMAGES.items():
        assert local["engines"][engine]["image"] == image
        base["engines"][engine]["image"] = image
        base["engines"][engine]["exporter"].update(image=exporter, connection=connection)
    lag_query = local["engines"][Engine.POSTGRESQL]["exporter"]["queries"]
    assert list(lag_query) == ["pg_replication"]
    base["engines"][Engine.POSTGRESQL]["exporter"]["queries"] = lag_query
    assert local == base


@pytest.mark.parametrize("engine", list(LOCAL_IMAGES))
def test_every_local_image_it_names_is_built_and_runs_as_the_pods_user(engine: Engine) -> None:
    settings = load_stacks_config(LOCAL).engine(engine)
    image, version, _, _ = LOCAL_IMAGES[engine]
    server = BUILT_REFS[f"{image}:{version}"]
    assert settings.exporter is not None and settings.exporter.image in BUILT_REFS
    assert recipe(server)["config"]["User"] == f"{settings.run_as_user}:{settings.run_as_user}"


def test_the_overlay_is_selected_like_any_stacks_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STACKS_CONFIG_ENV, str(LOCAL))
    assert load_stacks_config().engine(Engine.POSTGRESQL).image == "localhost/postgresql"


def test_a_misspelt_overlay_key_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "overlay.yaml").write_text(f"base: {REPOSITORY / 'stacks-config'}\nengine: {{}}\n")
    with pytest.raises(ValueError, match=r"overlay\.yaml: needs `base`, may have `engines` and `environments`"):
        load_stacks_config(tmp_path)


def test_a_misspelt_engine_key_in_an_overlay_is_refused(tmp_path: Path) -> None:
    (tmp_path / "overlay.yaml").write_text(
        f"base: {REPOSITORY / 'stacks-config'}\nengines:\n  postgresql:\n    imgae: localhost/postgresql\n"
    )
    with pytest.raises(ValidationError, match="imgae"):
        load_stacks_config(tmp_path)


def test_an_empty_overlay_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "overlay.yaml").write_text("")
    with pytest.raises(ValueError, match=r"overlay\.yaml: needs `base`.*\(got None\)"):
        load_stacks_config(tmp_path)

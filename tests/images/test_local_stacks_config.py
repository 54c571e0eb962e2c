"""stacks-config-local/ points the product at the locally built images, by configuration: an overlay that changes
only the image names of stacks-config/, and only to images that toolchain/images.sh builds."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from database_api.profiles import STACKS_CONFIG_ENV, Engine, load_stacks_config
from tests.images.conftest import RECIPES, REPOSITORY, recipe

LOCAL = REPOSITORY / "stacks-config-local"
BUILT_REFS = {recipe(path.stem)["ref"]: path.stem for path in RECIPES.glob("*.json")}


def test_only_the_postgresql_image_names_differ_from_the_base() -> None:
    base = load_stacks_config(REPOSITORY / "stacks-config").model_dump(by_alias=True)
    local = load_stacks_config(LOCAL).model_dump(by_alias=True)
    postgresql = local["engines"][Engine.POSTGRESQL]
    assert postgresql["image"] == "localhost/postgresql"
    assert postgresql["exporter"]["image"] == "localhost/prometheus-postgres-exporter:0.11.1"
    base["engines"][Engine.POSTGRESQL]["image"] = postgresql["image"]
    base["engines"][Engine.POSTGRESQL]["exporter"]["image"] = postgresql["exporter"]["image"]
    assert local == base


def test_every_local_image_it_names_is_built_and_runs_as_the_pods_user() -> None:
    postgresql = load_stacks_config(LOCAL).engine(Engine.POSTGRESQL)
    server = BUILT_REFS[f"{postgresql.image}:15"]  # the tag is the Database's spec.version
    assert BUILT_REFS[postgresql.exporter.image] == "postgres-exporter"
    assert recipe(server)["config"]["User"] == f"{postgresql.run_as_user}:{postgresql.run_as_user}"


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

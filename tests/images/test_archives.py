"""Each image is a docker-archive that containerd imports under the ref images.txt promises, with the
environment, user and tag its recipe says: names say what the images are, tags are the packaged versions."""

import hashlib
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.images.conftest import IMAGES_SH, RECIPES, Image, recipe

RECIPE_NAMES = sorted(path.stem for path in RECIPES.glob("*.json"))


def layer_member(image: Image, path: str) -> str:
    """One file of the image's layer, as text."""
    with tarfile.open(image.archive) as archive:
        layer = archive.extractfile(image.manifest["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer) as rootfs:
            member = rootfs.extractfile(f"./{path}")
            assert member is not None
            return member.read().decode()


def test_the_directory_lists_every_image_and_the_pause_image(images_dir: Path) -> None:
    listed = dict(line.split() for line in (images_dir / "images.txt").read_text().splitlines())
    assert listed == {recipe(name)["ref"]: f"{name}.tar" for name in RECIPE_NAMES}
    assert (images_dir / "pause-image").read_text().strip() == "localhost/catatonit:0.1.7"
    assert subprocess.run([str(IMAGES_SH), "--check"], check=False).returncode == 0


@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_the_archive_holds_one_layer_whose_digest_the_config_names(images: dict[str, Image], name: str) -> None:
    image = images[name]
    assert image.manifest["RepoTags"] == [recipe(name)["ref"]]
    digest = hashlib.sha256()
    with tarfile.open(image.archive) as archive:
        layer = archive.extractfile(image.manifest["Layers"][0])
        assert layer is not None
        while chunk := layer.read(1 << 20):
            digest.update(chunk)
    assert image.config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{digest.hexdigest()}"]}
    assert image.config["os"] == "linux"
    assert "/usr/bin" in image.env["PATH"].split(":")


@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_the_name_is_local_and_the_tag_is_the_packaged_version(
    images_dir: Path, images: dict[str, Image], name: str
) -> None:
    ref = recipe(name)["ref"]
    assert ref.startswith("localhost/")
    tag = ref.rsplit(":", 1)[1]
    packages = dict(line.split() for line in (images_dir / f"{name}.packages").read_text().splitlines())
    version = packages[recipe(name)["versionPackage"]]  # e.g. 1:10.11.19-0+deb12u1
    upstream = version.split(":", 1)[-1].rsplit("-", 1)[0]
    assert upstream == tag or upstream.startswith(f"{tag}.")
    assert version in images[name].config["config"]["Labels"]["org.opencontainers.image.description"]


def test_postgresql_binaries_are_on_the_path(images: dict[str, Image]) -> None:
    assert images["postgresql"].env["PATH"].split(":")[0] == "/usr/lib/postgresql/15/bin"


@pytest.mark.parametrize(("name", "user"), [("postgresql", "postgres"), ("mariadb", "mysql")])
def test_the_server_runs_as_its_own_user_with_the_id_the_pods_use(
    images: dict[str, Image], name: str, user: str
) -> None:
    """stacks-config's runAsUser (999) must be the image's database user, or the data files have a stranger's id."""
    image = images[name]
    assert image.config["config"]["User"] == "999:999"
    passwd = {line.split(":")[0]: line.split(":") for line in layer_member(image, "etc/passwd").splitlines()}
    assert passwd[user][2:4] == ["999", "999"]
    groups = {line.split(":")[0]: line.split(":")[2] for line in layer_member(image, "etc/group").splitlines()}
    assert groups[user] == "999"


def test_documentation_is_trimmed_but_copyright_files_stay(images: dict[str, Image]) -> None:
    with tarfile.open(images["postgresql"].archive) as archive:
        layer = archive.extractfile(images["postgresql"].manifest["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer) as rootfs:
            names = rootfs.getnames()
    assert "./usr/share/doc/postgresql-15/copyright" in names
    assert not [name for name in names if name.startswith(("./usr/share/man/", "./usr/share/locale/"))]
    assert not [name for name in names if name.startswith("./usr/share/doc/") and name.endswith(".gz")]

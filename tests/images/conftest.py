"""The images of toolchain/images.sh: built (or found in the cache) once per session, and unpacked into scratch
root filesystems that the tests run the images' own programs from (chroot, no cluster, no container runtime)."""

import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
IMAGES_SH = REPOSITORY / "toolchain" / "images.sh"
RECIPES = REPOSITORY / "toolchain" / "images"


@dataclass(frozen=True)
class Image:
    """One docker-archive of the images directory: its manifest entry and its config."""

    archive: Path
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def env(self) -> dict[str, str]:
        return dict(variable.split("=", 1) for variable in self.config["config"]["Env"])

    def unpack(self, target: Path) -> Path:
        """Extract the image's single layer into `target` (a root filesystem) and return it."""
        target.mkdir()
        with tarfile.open(self.archive) as archive:
            layer = archive.extractfile(self.manifest["Layers"][0])
            assert layer is not None
            untar = subprocess.Popen(["tar", "-x", "--numeric-owner", "-C", str(target)], stdin=subprocess.PIPE)
            assert untar.stdin is not None
            with untar.stdin:
                shutil.copyfileobj(layer, untar.stdin, 1 << 20)
            assert untar.wait() == 0
        return target


def read_image(archive: Path) -> Image:
    with tarfile.open(archive) as tar:
        manifest_file = tar.extractfile("manifest.json")
        assert manifest_file is not None
        [manifest] = json.load(manifest_file)
        config_file = tar.extractfile(manifest["Config"])
        assert config_file is not None
        config = json.load(config_file)
    return Image(archive, manifest, config)


def recipe(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECIPES / f"{name}.json").read_text())
    return loaded


@pytest.fixture(scope="session")
def images_dir() -> Path:
    """The images directory, complete: images.sh returns at once when everything is cached, else builds."""
    if os.geteuid() != 0:
        pytest.fail("the image tests need root: images.sh builds with mmdebstrap, the servers run in a chroot")
    subprocess.run([str(IMAGES_SH)], check=True, timeout=1800)
    printed = subprocess.run([str(IMAGES_SH), "--print-dir"], check=True, capture_output=True, text=True)
    return Path(printed.stdout.strip())


@pytest.fixture(scope="session")
def images(images_dir: Path) -> dict[str, Image]:
    """Every image of images.txt by recipe name."""
    return {
        Path(file_name).stem: read_image(images_dir / file_name)
        for _, file_name in (line.split() for line in (images_dir / "images.txt").read_text().splitlines())
    }


def run_in_root(root: Path, user: str, env: dict[str, str], script: str, timeout: float = 180) -> str:
    """Run `script` with the root filesystem's own `sh` as `user` (uid:gid), in private mount and pid namespaces
    with /dev and /proc mounted: every process it starts dies with it, whatever happens to the test."""
    (root / "proc").mkdir(exist_ok=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")  # as a container runtime provides it
    # No exec: the namespace's first process stays root, so --kill-child's parent-death signal (cleared when a
    # process changes its user) still reaches it if this test is killed, and the namespace dies with it.
    setup = 'mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && chroot --userspec="$2" "$1" sh -c "$3"'
    namespaces = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private"]
    result = subprocess.run(
        [*namespaces, "sh", "-c", setup, "root", root, user, script],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout

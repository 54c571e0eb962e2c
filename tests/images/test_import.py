"""The archives import into containerd as the node does it (`ctr -n k8s.io images import`), here into a private
containerd of the test's own (its own root, state and socket; never the node's)."""

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images.conftest import Image

CONFIG = """version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{dir}/containerd.sock"
[ttrpc]
  address = "{dir}/containerd-ttrpc.sock"
"""


@pytest.fixture
def containerd() -> Iterator[Path]:
    """A private containerd; yields its socket."""
    if not shutil.which("containerd") or not shutil.which("ctr"):
        pytest.skip("containerd is not installed (Debian's containerd; toolchain/cluster.sh installs it for the node)")
    directory = Path(tempfile.mkdtemp(prefix="dbop-images-containerd-"))  # short: a socket path has 108 bytes
    (directory / "config.toml").write_text(CONFIG.format(dir=directory))
    log = (directory / "containerd.log").open("w")
    daemon = subprocess.Popen(["containerd", "--config", str(directory / "config.toml")], stdout=log, stderr=log)
    socket = directory / "containerd.sock"
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["ctr", "-a", str(socket), "version"], capture_output=True, check=False).returncode:
            assert daemon.poll() is None and time.monotonic() < deadline, (directory / "containerd.log").read_text()
            time.sleep(0.2)
        yield socket
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
        shutil.rmtree(directory)


def test_the_pause_image_imports_under_its_ref(images: dict[str, Image], containerd: Path) -> None:
    """Every archive is written by the same code; the smallest one stands for all."""
    image = images["catatonit"]

    def ctr(*args: str) -> str:
        command = ["ctr", "-a", str(containerd), "-n", "k8s.io", *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    ctr("images", "import", str(image.archive))
    assert ctr("images", "ls", "-q").split() == image.manifest["RepoTags"]
    [status] = ctr("images", "check").splitlines()[1:]
    assert "complete (2/2)" in status  # the config and the layer
    assert status.split()[-1] == "true"  # unpacked into a snapshot: ready to run

"""Fixtures for the real node's smoke tests: the local cluster (toolchain/cluster.sh, honouring the DBOP_* environment
like tests/e2e) with its real node, and a namespace per test whose pods land on that node."""

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import REPO, Kubectl, toolchain_bin, wait_for

CLUSTER = str(REPO / "toolchain" / "cluster.sh")
IMAGES = str(REPO / "toolchain" / "images.sh")
# The first start builds the node's images from Debian packages (toolchain/images.sh): minutes, not seconds.
START_TIMEOUT = 3600


@pytest.fixture(scope="session")
def node_env() -> Iterator[dict[str, str]]:
    """Start (or reuse) the local cluster with its real node; the environment kubectl uses.
    A cluster this session started is stopped at the end; one that was already running is left running."""
    if os.environ.get("DBOP_NODE", "real") != "real":
        pytest.fail("the real node's tests need the real node: unset DBOP_NODE (it is 'kwok')")
    bin_dir = toolchain_bin()
    if not (bin_dir / "kubelet").exists():
        pytest.fail(f"the toolchain is not built ({bin_dir}); run toolchain/build.sh (scripts/test does)")
    was_running = subprocess.run([CLUSTER, "status"], capture_output=True, check=False).returncode == 0
    subprocess.run([CLUSTER, "start"], check=True, timeout=START_TIMEOUT)
    kubeconfig = subprocess.check_output([CLUSTER, "kubeconfig"], text=True).strip()
    yield {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "KUBECONFIG": kubeconfig}
    if not was_running:
        subprocess.run([CLUSTER, "stop"], check=False, timeout=300)


@pytest.fixture(scope="session")
def node_kubectl(node_env: dict[str, str]) -> Kubectl:
    return Kubectl(node_env)


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """The locally built images by repository (`localhost/postgresql` -> `localhost/postgresql:15`)."""
    directory = Path(subprocess.check_output([IMAGES, "--print-dir"], text=True).strip())
    refs = [line.split()[0] for line in (directory / "images.txt").read_text().splitlines() if line.strip()]
    return {ref.rsplit(":", 1)[0]: ref for ref in refs}


@pytest.fixture
def node_namespace(node_kubectl: Kubectl) -> Iterator[str]:
    """A namespace of its own per test, whose pods go to the real node."""
    name = f"node-{uuid.uuid4().hex[:8]}"
    node_kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "annotations": {"scheduler.alpha.kubernetes.io/node-selector": "type=real"}},
        }
    )
    # pods are refused until the namespace's default ServiceAccount exists
    wait_for("the namespace's ServiceAccount", lambda: node_kubectl.get("serviceaccount", "default", name), timeout=30)
    yield name
    node_kubectl.run("delete", "namespace", name, "--wait=false", check=False)

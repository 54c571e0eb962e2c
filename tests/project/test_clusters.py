"""The README's two commands never meet: the end-to-end tests' cluster (tests/e2e/test-cluster.env) shares no
port, directory or other per-cluster setting with the demo's (toolchain/cluster.sh's defaults) or the
benchmark's."""

import os
import re
import subprocess

import pytest

from benchmark.__main__ import CLUSTER_ENV as BENCHMARK_CLUSTER
from tests.e2e.cluster import REPO, private_cluster_variables

# Settings of toolchain/cluster.sh that clusters may share: modes and limits, and what lives only inside a real
# node's own network namespace (its ports, bridge, DNS address) or names its node in its own cluster.
SHARED = {
    "DBOP_CACHE",
    "DBOP_KWOK_NODES",
    "DBOP_CLUSTER_TIMEOUT",
    "DBOP_NODE",
    "DBOP_KUBELET_PORT",
    "DBOP_NODE_BRIDGE",
    "DBOP_NODE_DNS_IP",
    "DBOP_NODE_NAME",
}
# Defaults derived from the cluster's directory (toolchain/node/node.sh hashes it into NODE_ID) are the tests' own
# once the directory is; an empty default is derived the same way.
DERIVED = ("DBOP_CLUSTER_DIR", "$STATE", "$NODE_ID", "$NODE_DIR", "$NODE_RUN")


def cluster_defaults() -> dict[str, str]:
    """Every DBOP_* setting toolchain/cluster.sh (and the common.sh and node.sh it sources) has a default for."""
    text = "".join((REPO / "toolchain" / name).read_text() for name in ("common.sh", "cluster.sh", "node/node.sh"))
    return dict(re.findall(r"\$\{(DBOP_[A-Z0-9_]+):-([^}]*)\}", text))


def default_cluster_dir() -> str:
    return subprocess.check_output(
        ["bash", "-c", '. toolchain/common.sh && echo "$DBOP_CLUSTER_DIR"'], cwd=REPO, text=True
    ).strip()


@pytest.fixture(autouse=True)
def no_cluster_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the file says, not what this shell happens to export."""
    for name in [name for name in os.environ if name.startswith("DBOP_") and name != "DBOP_CACHE"]:
        monkeypatch.delenv(name)


def test_the_tests_cluster_sets_every_per_cluster_setting() -> None:
    tests = private_cluster_variables()
    missing = {
        name: default
        for name, default in cluster_defaults().items()
        if name not in tests and name not in SHARED and default and not any(part in default for part in DERIVED)
    }
    assert missing == {}, "tests/e2e/test-cluster.env must set these, or the tests' cluster shares them with the demo"


def test_the_tests_cluster_shares_no_port_or_directory_with_the_demo_or_the_benchmark() -> None:
    tests = private_cluster_variables()
    others = {*cluster_defaults().values(), default_cluster_dir(), *BENCHMARK_CLUSTER.values()}
    assert {name: value for name, value in tests.items() if value in others} == {}
    assert len(set(tests.values())) == len(tests), tests

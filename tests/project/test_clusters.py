"""The README's two commands never meet: the tests' two clusters (tests/e2e/test-cluster.env, and
tests/e2e/test-cluster-kwok.env, which scripts/test runs at the same time) share no port, directory or other
per-cluster setting with the demo's (toolchain/cluster.sh's defaults), the benchmark's or each other."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from benchmark.__main__ import CLUSTER_ENV as BENCHMARK_CLUSTER
from tests.e2e.cluster import KWOK_TEST_CLUSTER_ENV, REPO, TEST_CLUSTER_ENV, private_cluster_variables

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


TESTS_CLUSTERS = pytest.mark.parametrize("env_file", [TEST_CLUSTER_ENV, KWOK_TEST_CLUSTER_ENV], ids=lambda f: f.name)


def own_settings(env_file: Path) -> dict[str, str]:
    return {name: value for name, value in private_cluster_variables(env_file).items() if name not in SHARED}


@TESTS_CLUSTERS
def test_the_tests_cluster_sets_every_per_cluster_setting(env_file: Path) -> None:
    tests = private_cluster_variables(env_file)
    missing = {
        name: default
        for name, default in cluster_defaults().items()
        if name not in tests and name not in SHARED and default and not any(part in default for part in DERIVED)
    }
    assert missing == {}, f"{env_file.name} must set these, or the tests' cluster shares them with the demo"


@TESTS_CLUSTERS
def test_the_tests_cluster_shares_no_port_or_directory_with_the_demo_the_benchmark_or_the_other(
    env_file: Path,
) -> None:
    tests = own_settings(env_file)
    [other] = [own_settings(file) for file in (TEST_CLUSTER_ENV, KWOK_TEST_CLUSTER_ENV) if file != env_file]
    others = {*cluster_defaults().values(), default_cluster_dir(), *BENCHMARK_CLUSTER.values(), *other.values()}
    assert {name: value for name, value in tests.items() if value in others} == {}
    assert len(set(tests.values())) == len(tests), tests

"""Fixtures shared by every test subsystem: the real stacks-config, and the tests' own local cluster (used by the
end-to-end tests on kwok's fake nodes and by the real node's tests alike, so a run starts one cluster)."""

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from database_api.profiles import StacksConfig, load_stacks_config
from tests.e2e.cluster import REPO, private_cluster_variables, toolchain_bin


@pytest.fixture(scope="session")
def stacks_config() -> StacksConfig:
    """The real `stacks-config/` of this checkout."""
    return load_stacks_config()


CLUSTER = str(REPO / "toolchain" / "cluster.sh")
# What makes a test's pods run on the real node: the node's own fixtures, the real node's (which every real-pod
# test asks for), the operator with the local images, and the operator deployed in the cluster (tests/deploy).
REAL_NODE_FIXTURES = {"node_env", "real_node", "real_operator"}
REAL_NODE_DIRECTORIES = ("tests/deploy/",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_node: pods of the test run on the real node; scripts/test runs these on tests/e2e/test-cluster.env's "
        "cluster and the others meanwhile on tests/e2e/test-cluster-kwok.env's (set automatically)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.fspath).relative_to(REPO).as_posix()
        if REAL_NODE_FIXTURES & set(item.fixturenames) or path.startswith(REAL_NODE_DIRECTORIES):
            item.add_marker(pytest.mark.real_node)


def _cluster(env: dict[str, str], command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """toolchain/cluster.sh COMMAND on the cluster that env names; a failure shows what cluster.sh said."""
    result = subprocess.run([CLUSTER, command], env=env, capture_output=True, text=True, timeout=300, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"toolchain/cluster.sh {command} failed:\n{result.stderr}")
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, somebody else's
    return True


def _stop_stray_operators(kubeconfig: str) -> None:
    """Operators a killed session left running against this cluster: beside this session's operator they would
    serve the same namespaces. Each leads its own process group (OperatorProcess), its Pulumi processes in it."""
    setting = f"KUBECONFIG={kubeconfig}".encode()
    for process in Path("/proc").iterdir():
        try:
            command = (process / "cmdline").read_bytes().split(b"\0")
            environment = (process / "environ").read_bytes().split(b"\0")
        except OSError:  # not a process, or gone
            continue
        if b"run" in command and any(arg.endswith(b"/database-operator") for arg in command) and setting in environment:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(process.name), signal.SIGKILL)


@pytest.fixture(scope="session")
def cluster_env() -> Iterator[dict[str, str]]:
    """The tests' private control plane (tests/e2e/test-cluster.env), never the demo's; the environment every
    kubectl and the operator use. A session that finds it stopped starts it fresh (reset: an interrupted run may
    have left namespaces and Databases waiting for an operator that is gone) and stops it at the end. A cluster
    somebody started and kept running is used as it is and left running; one a killed session left behind is
    started fresh, that session's operator stopped."""
    bin_dir = toolchain_bin()
    if not (bin_dir / "kube-apiserver").exists():
        pytest.fail(f"the toolchain is not built ({bin_dir}); run toolchain/build.sh (scripts/test does)")
    env = {**os.environ, **private_cluster_variables()}
    kubeconfig = _cluster(env, "kubeconfig").stdout.strip()
    owner = Path(env["DBOP_CLUSTER_DIR"]) / "test-session.pid"
    if owner.exists():
        pid = owner.read_text().strip()
        if pid.isdigit() and _alive(int(pid)):
            pytest.fail(f"another test session (pid {pid}) is using the tests' cluster {env['DBOP_CLUSTER_DIR']}")
    reuse = not owner.exists() and _cluster(env, "status", check=False).returncode == 0
    if not reuse:
        _stop_stray_operators(kubeconfig)
        _cluster(env, "reset")
        owner.parent.mkdir(parents=True, exist_ok=True)
        owner.write_text(str(os.getpid()))
        _cluster(env, "start")
    yield {
        **env,
        "PATH": f"{bin_dir}:{env['PATH']}",
        "KUBECONFIG": kubeconfig,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    if not reuse:
        _cluster(env, "stop", check=False)
        owner.unlink(missing_ok=True)

"""End-to-end fixtures: the tests' own cluster (toolchain/cluster.sh with tests/e2e/test-cluster.env), the CRD,
and the real operator process."""

import contextlib
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, private_cluster_variables, toolchain_bin, wait_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


CLUSTER = str(REPO / "toolchain" / "cluster.sh")


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


@pytest.fixture(scope="session")
def kubectl(cluster_env: dict[str, str]) -> Kubectl:
    client = Kubectl(cluster_env)
    client.run("apply", "--server-side", "-f", str(REPO / "crds" / "database.yaml"))
    for crd in ("databases", "databasebackups"):
        client.run("wait", "--for=condition=Established", f"crd/{crd}.database.example.com", "--timeout=60s")
        # A fresh API server answers "storage is (re)initializing" for a new kind a little longer than that,
        # and an operator that starts watching then may give up on it.
        wait_for(f"{crd} to be served", lambda crd=crd: client.run("get", crd, "-A", check=False).returncode == 0)
    return client


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh file:// backend and workspaces for this test session."""
    return tmp_path_factory.mktemp("operator-state")


@pytest.fixture(scope="session")
def operator(cluster_env: dict[str, str], kubectl: Kubectl, state_dir: Path) -> Iterator[OperatorProcess]:
    env = {
        **cluster_env,
        "DBOP_STATE_DIR": str(state_dir),
        "PULUMI_HOME": str(state_dir / "pulumi-home"),
        "PULUMI_CONFIG_PASSPHRASE": "e2e-passphrase",
        "DBOP_MAX_OPERATIONS": "4",
        "DBOP_DRIFT_INTERVAL": "300",
        "DBOP_WEBHOOK_PORT": str(_free_port()),
        # Only the tests' own namespaces: Databases elsewhere on this cluster (scripts/demo's) are not ours.
        "DBOP_NAMESPACES": "e2e-*",
    }
    env.pop("PULUMI_BACKEND_URL", None)
    process = OperatorProcess(env=env, log_path=state_dir / "operator.log", port=_free_port())
    process.start()
    yield process
    process.stop()
    print(f"operator log: {process.log_path}")


@pytest.fixture
def namespace(kubectl: Kubectl, operator: OperatorProcess) -> Iterator[str]:
    """A namespace of its own per test; Databases left in it are deleted (through the operator) afterwards.
    Its pods go to kwok's fake nodes (Ready at once, Jobs complete in a second), never to the real node."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "annotations": {"scheduler.alpha.kubernetes.io/node-selector": "type=kwok"}},
        }
    )
    yield name
    kubectl.run("delete", "databases", "--all", "-n", name, "--wait=true", "--timeout=120s", check=False)
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)

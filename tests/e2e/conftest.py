"""End-to-end fixtures: the tests' own cluster (toolchain/cluster.sh with tests/e2e/test-cluster.env), the CRD,
and the real operator process."""

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, host_source_cidrs, pulumi_processes_of, wait_for
from tests.e2e.databases import Volumes


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


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


def running_operator(cluster_env: dict[str, str], state_dir: Path, namespaces: str, **env: str) -> OperatorProcess:
    """A started operator process with its own state, serving only `namespaces` (a pattern): Databases elsewhere
    on this cluster (scripts/demo's, another test module's) are not its. `env` adds to or overrides its
    environment."""
    environment = {
        **cluster_env,
        "DBOP_STATE_DIR": str(state_dir),
        "PULUMI_HOME": str(state_dir / "pulumi-home"),
        "PULUMI_CONFIG_PASSPHRASE": "e2e-passphrase",
        "DBOP_MAX_OPERATIONS": "4",
        "DBOP_DRIFT_INTERVAL": "300",
        "DBOP_WEBHOOK_PORT": str(_free_port()),
        "DBOP_NAMESPACES": namespaces,
        # The Databases' NetworkPolicies admit this operator to the exporters, where it reads the replicas' lag.
        "DBOP_OPERATOR_CIDRS": host_source_cidrs(cluster_env),
    }
    environment.pop("PULUMI_BACKEND_URL", None)  # the caller's shell's backend is never the tests'; `env` may set one
    environment.update(env)
    process = OperatorProcess(env=environment, log_path=state_dir / "operator.log", port=_free_port())
    process.start()
    return process


def stepping_in(
    operator: OperatorProcess, cluster_env: dict[str, str], state_dir: Path, namespaces: str, **env: str
) -> Iterator[OperatorProcess]:
    """An operator of a test module's own serving `namespaces` (with at most 2 operations at once), while the
    session's operator steps aside (one operator per cluster: webhooks and peering are cluster-wide); the session's
    is back afterwards."""
    operator.stop()
    process = running_operator(cluster_env, state_dir, namespaces, DBOP_MAX_OPERATIONS="2", **env)
    yield process
    process.stop()
    print(f"operator log: {process.log_path}")
    operator.start()


@pytest.fixture(scope="session")
def operator(cluster_env: dict[str, str], kubectl: Kubectl, state_dir: Path) -> Iterator[OperatorProcess]:
    process = running_operator(cluster_env, state_dir, "e2e-*")
    yield process
    process.stop()
    print(f"operator log: {process.log_path}")
    # Whatever the tests did (stops, kills, timeouts), the operator leaves no Pulumi process and no traceback.
    assert pulumi_processes_of(process.pids) == []
    assert process.tracebacks() == [], f"see {process.log_path}"


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


@pytest.fixture
def volumes(kubectl: Kubectl) -> Iterator[Volumes]:
    """StorageClasses and PersistentVolumes a test makes, removed after it."""
    made = Volumes(kubectl)
    yield made
    made.remove()

"""The operator as users run it: its image built from the Dockerfile (toolchain/operator-image.sh, cached),
deploy/ applied by scripts/deploy on the tests' cluster, two replicas on its real node, admission webhooks
through the Service, the shipped RBAC. The Databases' pods go to kwok's nodes: these tests are about the
operator, not the engines.

All replicas of every operator on a cluster elect one leader (leadership.py), so this module must not share
its cluster with a running `database-operator run` (tests/e2e's): a pytest session runs it first (tests/deploy
sorts before tests/e2e), and it checks that no other operator is alive."""

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deployed import OPERATOR_NAMESPACE, SELECTOR
from tests.e2e.cluster import REPO, Kubectl, wait_for
from tests.e2e.databases import database, wait_image, wait_ready, wait_statefulset
from tests.node.pods import SLEEPER, pod, start

DEPLOY = str(REPO / "scripts" / "deploy")
TOOLS_IMAGE = "localhost/debian-tools:12"
PEERING_LIFETIME = 10
DEPLOY_ARGS = ("--set", "DBOP_NAMESPACES=deploy-*", "--set", f"DBOP_PEERING_LIFETIME={PEERING_LIFETIME}")
# The first run builds the image (and its base) from scratch: minutes.
DEPLOY_TIMEOUT = 1800


def _deploy(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [DEPLOY, *args], env=env, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT, check=False
    )
    print(result.stderr)
    if result.returncode != 0:
        pytest.fail(f"scripts/deploy {' '.join(args)} failed:\n{result.stderr}")


def live_peers(kubectl: Kubectl) -> dict[str, int]:
    """Operator processes of the cluster's leader election that are alive, by id (a pod's name), and their
    priority: the highest leads."""
    result = kubectl.run("get", "clusterkopfpeering", "database-operator", "-o", "json", check=False)
    if result.returncode != 0:
        return {}
    now = datetime.now(UTC).timestamp()
    return {
        peer: int(entry["priority"])
        for peer, entry in (json.loads(result.stdout).get("status") or {}).items()
        if datetime.fromisoformat(entry["lastseen"]).timestamp() + entry["lifetime"] > now
    }


def operator_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = json.loads(
        kubectl.run("get", "pods", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR, "-o", "json").stdout
    )["items"]
    return [pod for pod in pods if "deletionTimestamp" not in pod["metadata"]]


def leader(kubectl: Kubectl) -> str:
    """The pod that leads: the live peer of highest priority, once both replicas have joined."""
    peers = wait_for("both replicas in the leader election", lambda: (p := live_peers(kubectl)) and len(p) == 2 and p)
    return max(peers, key=lambda peer: peers[peer])


@pytest.fixture(scope="module")
def in_cluster(cluster_env: dict[str, str]) -> Iterator[Kubectl]:
    """The operator deployed by scripts/deploy, serving the namespaces deploy-*; removed afterwards with its
    namespace (this cluster is the tests' own), and its pods gone, so the next operator leads alone."""
    kubectl = Kubectl(cluster_env)
    strangers = [peer for peer in live_peers(kubectl) if not peer.startswith("database-operator-")]
    if strangers:
        pytest.fail(f"other operators lead on this cluster ({', '.join(strangers)}): run tests/deploy before them")
    _deploy(cluster_env, *DEPLOY_ARGS)
    yield kubectl
    _deploy(cluster_env, "delete")
    kubectl.run("delete", "namespace", OPERATOR_NAMESPACE, "--timeout=120s")


def databases_namespace(kubectl: Kubectl) -> Iterator[str]:
    """One namespace for a module's Databases, their pods on kwok's nodes; its Databases are deleted through
    the operator before it goes."""
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    annotations = {"scheduler.alpha.kubernetes.io/node-selector": "type=kwok"}
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "annotations": annotations}})
    yield name
    kubectl.run("delete", "databases", "--all", "-n", name, "--wait=true", "--timeout=100s", check=False)
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def namespace(in_cluster: Kubectl) -> Iterator[str]:
    yield from databases_namespace(in_cluster)


def _exec(kubectl: Kubectl, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
    return kubectl.run("exec", "-n", OPERATOR_NAMESPACE, pod, "--", *command, check=False)


def test_the_image_runs_as_non_root_on_a_read_only_root(in_cluster: Kubectl) -> None:
    pod = operator_pods(in_cluster)[0]["metadata"]["name"]
    assert _exec(in_cluster, pod, "id", "-u").stdout.strip() == "10001"
    refused = _exec(in_cluster, pod, "touch", "/app/written")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert _exec(in_cluster, pod, "touch", "/tmp/written").returncode == 0
    image = Path(
        subprocess.check_output([str(REPO / "toolchain" / "operator-image.sh"), "--print-dir"], text=True).strip()
    )
    print((image / "figures").read_text())


def test_deploying_again_keeps_the_secrets(in_cluster: Kubectl, cluster_env: dict[str, str]) -> None:
    """The passphrase encrypts every stack's passwords: a second deploy (an upgrade) must never replace it."""

    def secrets() -> list[dict[str, str]]:
        names = ("database-operator-passphrase", "database-operator-webhook-tls")
        return [in_cluster.get("secret", name, OPERATOR_NAMESPACE)["data"] for name in names]

    before = secrets()
    _deploy(cluster_env, *DEPLOY_ARGS)
    assert secrets() == before


def test_only_the_webhook_port_is_open_to_other_pods(in_cluster: Kubectl) -> None:
    """deploy/networkpolicy.yaml: a pod of another namespace reaches the webhooks (as the API server must), not
    the health port. (The real node enforces policies; the webhook tests below prove the API server gets in.)"""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    in_cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        wait_for("the namespace's ServiceAccount", lambda: in_cluster.get("serviceaccount", "default", name))
        start(in_cluster, name, pod("prober", TOOLS_IMAGE, SLEEPER))
        address = operator_pods(in_cluster)[0]["status"]["podIP"]

        def connects(port: int) -> bool:
            probe = ["exec", "-n", name, "prober", "--", "nc", "-z", "-w", "3", address, str(port)]
            return in_cluster.run(*probe, check=False).returncode == 0

        assert wait_for("the webhook port to answer", lambda: connects(9443))
        assert not connects(8080), "the health port must be closed to other pods"
    finally:
        in_cluster.run("delete", "namespace", name, "--wait=false", check=False)


def test_lifecycle_create_scale_update_delete(in_cluster: Kubectl, namespace: str) -> None:
    in_cluster.apply(database("app", namespace))
    # The mutating webhook, reached through the Service, stored the environment's defaults.
    assert in_cluster.get("database", "app", namespace)["spec"]["resources"]["limits"] == {
        "cpu": "500m",
        "memory": "512Mi",
    }
    refused = in_cluster.apply(database("old", namespace, version="5.7"), check=False)
    assert "spec.version: mysql 5.7 is not supported; use 8.0 or newer" in refused.stderr
    db = wait_ready(in_cluster, "app", namespace)
    assert db["status"]["replicas"] == 1 and db["status"]["outputs"]["endpoint"] == f"app.{namespace}.svc:3306"
    assert in_cluster.get("secret", "app-credentials", namespace) is not None

    in_cluster.run("scale", "db/app", "-n", namespace, "--replicas=2")
    wait_statefulset(in_cluster, "app", namespace, replicas=2)
    assert wait_ready(in_cluster, "app", namespace)["status"]["replicas"] == 2

    in_cluster.run("patch", "db", "app", "-n", namespace, "--type=merge", "-p", '{"spec":{"version":"8.4"}}')
    wait_image(in_cluster, "app", namespace, "mysql:8.4")
    pod_files = wait_ready(in_cluster, "app", namespace)["status"]["outputs"]["configMap"]
    stack = f"{namespace}.app"
    pod = operator_pods(in_cluster)[0]["metadata"]["name"]
    workspaces = "/var/lib/database-operator/workspaces"
    assert stack in _exec(in_cluster, pod, "ls", workspaces).stdout.split()  # on the state volume

    in_cluster.run("delete", "db", "app", "-n", namespace, "--wait=false")
    wait_for("the Database to go (its stack destroyed)", lambda: in_cluster.get("database", "app", namespace) is None)
    for kind, name in [
        ("statefulset", "app"),
        ("service", "app"),
        ("configmap", pod_files),
        ("secret", "app-credentials"),
    ]:
        wait_for(
            f"{kind}/{name} to be deleted", lambda kind=kind, name=name: in_cluster.get(kind, name, namespace) is None
        )
    assert stack not in _exec(in_cluster, pod, "ls", workspaces).stdout.split()


def _operator_process(pod: str) -> int:
    """The host's pid of the operator process in `pod` (its POD_ID says which pod it is)."""
    for process in Path("/proc").iterdir():
        try:
            command = (process / "cmdline").read_bytes().split(b"\0")
            environment = (process / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"/database-operator") for arg in command) and f"POD_ID={pod}".encode() in environment:
            return int(process.name)
    raise AssertionError(f"no operator process of {pod} on this machine")


def test_the_standby_takes_over_when_the_leader_crashes(in_cluster: Kubectl, namespace: str) -> None:
    in_cluster.apply(database("ha", namespace))
    wait_ready(in_cluster, "ha", namespace)
    crashed = leader(in_cluster)
    [standby] = [pod["metadata"]["name"] for pod in operator_pods(in_cluster) if pod["metadata"]["name"] != crashed]

    os.kill(_operator_process(crashed), signal.SIGKILL)  # a crash: no hand-over, its Pulumi processes orphaned
    killed_at = time.monotonic()
    change = json.dumps({"spec": {"replicas": 3}})
    # Admission needs a live replica behind the Service: the standby's (the crashed one leaves it until it is back).
    wait_for(
        "the change to be admitted",
        lambda: (
            in_cluster.run("patch", "db", "ha", "-n", namespace, "--type=merge", "-p", change, check=False).returncode
            == 0
        ),
        timeout=60,
    )
    wait_statefulset(in_cluster, "ha", namespace, timeout=PEERING_LIFETIME + 120, replicas=3)
    db = wait_ready(in_cluster, "ha", namespace, timeout=120)
    print(f"leader {crashed} killed: the change was reconciled {time.monotonic() - killed_at:.1f}s later")
    assert db["status"]["replicas"] == 3
    assert leader(in_cluster) == standby  # the crashed pod's container came back as the newer, lower-priority peer
    log = in_cluster.run("logs", "-n", OPERATOR_NAMESPACE, standby).stdout
    # From its last resume on (the take-over), it led without an error. (Two replicas started within seconds
    # can both lead for a moment before the younger sees the older one's keep-alive: see README "In a cluster".)
    assert "Resuming operations" in log
    assert "Traceback" not in log[log.rindex("Resuming operations") :]

"""Rollouts on the real node never wedge, and a pod runs the files its template was made with. One PostgreSQL
Database of two pods, with rows:

1. a spec change whose new pod cannot start (a memory limit no container fits in, with a configuration change that
   makes a new pods' files ConfigMap): the StatefulSet rolls shop-1 first, which fails, and holds the rollout;
2. meanwhile the old primary's server is killed (SIGKILL, from the host): its container restarts with the files of
   its own template (the old ConfigMap, still there) and comes back Ready, as its pod, without the operator's help;
3. the spec is fixed: the failing shop-1, now of an old revision that the StatefulSet would wait for forever,
   is deleted by the operator after DBOP_UNWEDGE_AFTER (an Event says so), the rollout completes, the Database is
   Ready again with its rows, and the old pods' files ConfigMap is gone."""

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, wait_for
from tests.e2e.conftest import stepping_in
from tests.e2e.databases import wait_ready
from tests.e2e.ha import server_processes
from tests.e2e.test_real_databases import (  # noqa: F401 (real_node: a fixture)
    READY_TIMEOUT,
    query,
    real_namespace,
    real_node,
    rows_or_none,
    serving,
)

UNWEDGE_AFTER = 10
# A container cannot even start in 1 MiB: every container of the new pod fails, as with a setting the server refuses.
NO_MEMORY = {"requests": {"cpu": "100m", "memory": "1Mi"}, "limits": {"cpu": "500m", "memory": "1Mi"}}
LOGGING = {"enabled": True, "logging": True}  # a new configuration file: a new pods' files ConfigMap


@pytest.fixture(scope="module")
def rollout_operator(
    cluster_env: dict[str, str],
    real_node: None,  # noqa: F811
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with the local images, replacing a stuck old pod after 10 s instead of 60. Failover stays out of
    this test: with the only replica failing, it would fence the primary whose server is killed and promote nobody
    (failover.py); here the primary comes back by itself."""
    state_dir = tmp_path_factory.mktemp("rollout-operator")
    env = {
        "DATABASE_STACKS_CONFIG": str(REPO / "stacks-config-local"),
        "DBOP_UNWEDGE_AFTER": str(UNWEDGE_AFTER),
        "DBOP_FAILOVER_AFTER": "600",
    }
    yield from stepping_in(operator, cluster_env, state_dir, "roll-*", **env)


@pytest.fixture
def namespace(kubectl: Kubectl, rollout_operator: OperatorProcess) -> Iterator[str]:
    yield from real_namespace(kubectl, "roll")


def patch(kubectl: Kubectl, namespace: str, spec: dict[str, Any]) -> None:
    kubectl.run("patch", "database", "shop", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def pod_files(pod_or_template: dict[str, Any]) -> str:
    """The pods' files ConfigMap a pod (or the StatefulSet's template) mounts its scripts from."""
    spec = pod_or_template["spec"]
    [name] = [v["configMap"]["name"] for v in spec["volumes"] if v["name"] == "scripts"]
    return str(name)


def files_config_maps(kubectl: Kubectl, namespace: str) -> set[str]:
    listed = kubectl.run("get", "configmaps", "-n", namespace, "-o", "name").stdout.split()
    return {name.split("/")[1] for name in listed if name.startswith("configmap/shop-config")}


def revision_of(kubectl: Kubectl, namespace: str, pod: str) -> str | None:
    """The StatefulSet revision the pod was made from."""
    labels = ((kubectl.get("pod", pod, namespace) or {}).get("metadata") or {}).get("labels") or {}
    revision: str | None = labels.get("controller-revision-hash")
    return revision


def restarts(pod: dict[str, Any]) -> int:
    [server] = [s for s in pod["status"]["containerStatuses"] if s["name"] == "postgresql"]
    return int(server["restartCount"])


def ready(pod: dict[str, Any] | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_a_broken_rollout_holds_old_pods_on_their_own_files_and_a_fix_completes_it(
    kubectl: Kubectl, namespace: str
) -> None:
    client = serving(kubectl, namespace, "postgresql", "shop", replicas=2)
    rows = "1\tone\n2\ttwo\n"
    query(kubectl, namespace, client, "postgresql", "shop", "INSERT INTO notes VALUES (1, 'one'), (2, 'two')")
    first = kubectl.get("pod", "shop-0", namespace)
    assert first is not None
    old_files = pod_files(first)
    old_revision = revision_of(kubectl, namespace, "shop-0")

    # 1. The broken change: the StatefulSet replaces shop-1 and waits for it for ever.
    patch(kubectl, namespace, {"resources": NO_MEMORY, "monitoring": LOGGING})

    def rolled_and_stuck() -> dict[str, Any] | None:
        sts = kubectl.get("statefulset", "shop", namespace) or {}
        status = sts.get("status") or {}
        pod = kubectl.get("pod", "shop-1", namespace)
        held = status.get("updateRevision") != old_revision
        return (
            sts
            if held and revision_of(kubectl, namespace, "shop-1") == status.get("updateRevision") and not ready(pod)
            else None
        )

    statefulset = wait_for("shop-1 of the new revision, failing", rolled_and_stuck, timeout=120)
    new_files = pod_files(statefulset["spec"]["template"])
    assert new_files != old_files and {old_files, new_files} <= files_config_maps(kubectl, namespace)

    # 2. The old primary's server crashes mid-rollout: its container restarts on its own template's files.
    uid, restarted = first["metadata"]["uid"], restarts(first)
    for pid in server_processes(uid, "postgres"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def back() -> dict[str, Any] | None:
        pod = kubectl.get("pod", "shop-0", namespace)
        return pod if pod is not None and ready(pod) and restarts(pod) > restarted else None

    again = wait_for("shop-0's server restarted and Ready", back, timeout=90)
    assert again["metadata"]["uid"] == uid and pod_files(again) == old_files
    assert rows_or_none(kubectl, namespace, client, "postgresql", "shop") == rows

    # 3. The fix: the stuck shop-1 is now of an old revision; the operator replaces it, the rollout completes.
    patch(kubectl, namespace, {"resources": None})
    wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)
    reasons = [event.get("reason") for event in kubectl.events(namespace, "shop")]
    assert reasons.count("StuckPodReplaced") == 1  # shop-1, once, however often the watcher looked meanwhile
    final = kubectl.get("statefulset", "shop", namespace)
    assert final is not None and final["status"]["updatedReplicas"] == 2
    assert {revision_of(kubectl, namespace, f"shop-{i}") for i in (0, 1)} == {final["status"]["updateRevision"]}
    assert wait_for("the rows", lambda: rows_or_none(kubectl, namespace, client, "postgresql", "shop")) == rows
    mounted = pod_files(final["spec"]["template"])
    wait_for("the old pods' files ConfigMap to go", lambda: files_config_maps(kubectl, namespace) == {mounted})

"""The rolling update's decision (roll.py): replicas first, highest ordinal first, one at a time, nothing while a
pod is not Ready, a switchover before the primary, and the same answer again from what the cluster shows after an
operator restart."""

import asyncio
from typing import Any

import kopf
import pytest

from database_operator.instances import REVISION_LABEL
from database_operator.roll import Action, Step, next_step, roll_pods
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.status import readiness
from tests.operator.conftest import FakeKube, MakeDatabase

NEW, OLD = "orders-7d9f", "orders-5c4b"


def statefulset(replicas: int = 3, observed: int = 2, revision: str = NEW) -> dict[str, Any]:
    return {
        "metadata": {"generation": 2},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed, "updateRevision": revision},
    }


def pod(name: str, revision: str, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {REVISION_LABEL: revision}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-28T19:00:00Z"
    return {"metadata": metadata, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def pods(*revisions: str) -> dict[str, dict[str, Any]]:
    return {f"orders-{i}": pod(f"orders-{i}", revision) for i, revision in enumerate(revisions)}


def test_replicas_go_first_highest_ordinal_first_then_a_switchover_then_nothing() -> None:
    # The primary is orders-1 (after an earlier failover): orders-2, then orders-0, then a switchover to orders-0.
    sts = statefulset()
    assert next_step(sts, pods(OLD, OLD, OLD), "orders-1") == Step(
        Action.DELETE, "orders-2", f"replica orders-2 is at an older revision than {NEW}"
    )
    assert next_step(sts, pods(OLD, OLD, NEW), "orders-1").pod == "orders-0"
    switch = next_step(sts, pods(NEW, OLD, NEW), "orders-1")
    assert (switch.action, switch.pod) == (Action.SWITCH_OVER, "orders-0")
    # After the switchover orders-0 is the primary and orders-1, now a replica, is deleted; then it is done.
    assert next_step(sts, pods(NEW, OLD, NEW), "orders-0") == Step(
        Action.DELETE, "orders-1", f"replica orders-1 is at an older revision than {NEW}"
    )
    assert next_step(sts, pods(NEW, NEW, NEW), "orders-0").action is Action.DONE


def test_one_pod_at_a_time_nothing_while_a_pod_is_not_ready_being_deleted_or_missing() -> None:
    sts = statefulset()
    replacing = pods(OLD, OLD, NEW) | {"orders-2": pod("orders-2", NEW, ready=False)}
    assert next_step(sts, replacing, "orders-0") == Step(Action.WAIT, reason="orders-2 is not ready")
    leaving = pods(OLD, OLD, OLD) | {"orders-2": pod("orders-2", OLD, deleting=True)}
    assert next_step(sts, leaving, "orders-0") == Step(Action.WAIT, reason="orders-2 is being replaced")
    missing = {name: body for name, body in pods(OLD, OLD, NEW).items() if name != "orders-2"}
    assert next_step(sts, missing, "orders-0") == Step(Action.WAIT, reason="2 of 3 pods exist")
    # A primary that is down is the failover's business, never the roll's.
    down = pods(NEW, NEW, OLD) | {"orders-2": pod("orders-2", OLD, ready=False)}
    assert next_step(sts, down, "orders-2").action is Action.WAIT


def test_nothing_moves_before_the_statefulset_controller_has_seen_the_new_template() -> None:
    assert next_step(statefulset(observed=1), pods(OLD, OLD, OLD), "orders-0").action is Action.WAIT
    assert next_step(None, pods(OLD), "orders-0").action is Action.DONE


def test_a_database_of_one_pod_just_restarts_it() -> None:
    step = next_step(statefulset(replicas=1), pods(OLD), "orders-0")
    assert (step.action, step.pod) == (Action.DELETE, "orders-0")


def test_an_operator_restarted_mid_roll_takes_the_same_step_from_what_the_cluster_shows() -> None:
    """The decision uses only the StatefulSet, the pods' revision labels and readiness, and the status's primary:
    the same cluster gives the same step, whatever the operator did before it restarted."""
    sts, cluster, primary = statefulset(), pods(OLD, NEW, OLD), "orders-1"
    first = next_step(sts, cluster, primary)
    assert first == next_step(sts, dict(reversed(list(cluster.items()))), primary)
    assert (first.action, first.pod) == (Action.DELETE, "orders-2")


def test_the_status_shows_pods_at_an_older_template() -> None:
    sts = statefulset() | {"status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                                      "readyReplicas": 3}}  # fmt: skip
    live = readiness(sts)
    assert live is not None and (live.outdated, live.all_ready) == (2, False)


@pytest.fixture
def rolling(runtime: Runtime, database: MakeDatabase) -> tuple[DatabaseTracker, kopf.Body]:
    """orders, three pods on the old template, primary orders-1; the StatefulSet has a new one."""
    body = database(type="postgresql", replicas=3)
    tracker = runtime.tracker("shop", "orders", {"currentPrimary": "orders-1"})
    tracker.statefulset = statefulset()
    tracker.pods = pods(OLD, OLD, OLD)
    return tracker, body


def roll(runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    asyncio.run(roll_pods(runtime, tracker, body))


def test_the_operator_deletes_one_replica_and_waits_for_it_before_the_next(
    runtime: Runtime, kube: FakeKube, rolling: tuple[DatabaseTracker, kopf.Body]
) -> None:
    tracker, body = rolling
    roll(runtime, tracker, body)
    roll(runtime, tracker, body)  # again before the watch reports the deletion: nothing more
    assert kube.actions == [("delete-pod", "orders-2", None)]
    tracker.pods["orders-2"] = pod("orders-2", NEW)  # back, Ready, on the new template
    roll(runtime, tracker, body)
    assert kube.actions[1:] == [("delete-pod", "orders-0", None)]


def test_the_primary_is_switched_over_to_an_updated_replica_and_never_deleted_first(
    runtime: Runtime, kube: FakeKube, rolling: tuple[DatabaseTracker, kopf.Body]
) -> None:
    tracker, body = rolling
    tracker.pods = pods(NEW, OLD, NEW)
    kube.exec_answers = {
        ("orders-0", "position"): "standby 0/3000000 0/3000000\n",
        ("orders-2", "position"): "standby 0/3000000 0/3000000\n",
        ("orders-1", "fence"): "fenced 0/3000000\n",
    }
    roll(runtime, tracker, body)
    assert kube.statuses[("shop", "orders")]["currentPrimary"] == "orders-0"
    steps = [action for action in kube.actions if action[0] != "patch-pod"]
    fence, promote, delete = (steps.index(step) for step in (("exec", "orders-1", "fence"),
                              ("exec", "orders-0", "promote"), ("delete-pod", "orders-1", None)))  # fmt: skip
    assert fence < promote < delete  # the old primary goes only once the updated replica is the primary


def test_with_no_replica_able_to_take_over_the_primary_restarts_in_place_unfenced(
    runtime: Runtime, kube: FakeKube, rolling: tuple[DatabaseTracker, kopf.Body]
) -> None:
    """As the StatefulSet controller restarted it (kwok's pods, or replicas that cannot say how far they are)."""
    tracker, body = rolling
    tracker.pods = pods(NEW, OLD, NEW)
    kube.exec_answers = {("orders-0", "position"): None, ("orders-2", "position"): None}
    roll(runtime, tracker, body)
    assert [action for action in kube.actions if action[0] != "exec"] == [("delete-pod", "orders-1", None)]
    assert "currentPrimary" not in kube.statuses.get(("shop", "orders"), {})


def test_nothing_is_deleted_while_a_stack_operation_runs(
    runtime: Runtime, kube: FakeKube, rolling: tuple[DatabaseTracker, kopf.Body]
) -> None:
    tracker, body = rolling

    async def during_an_operation() -> None:
        async with tracker.operation:
            await roll_pods(runtime, tracker, body)

    asyncio.run(during_an_operation())
    assert kube.actions == []

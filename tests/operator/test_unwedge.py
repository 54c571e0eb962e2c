"""A rollout wedged by a not-ready pod of an old revision: which pod is deleted, when, and what never is."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest

from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.unwedge import stuck_pods, unwedge_rollout
from tests.operator.conftest import Events, FakeKube, MakeDatabase

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
AFTER = 60.0


def rolling(
    update: str = "new", current: str = "old", generation: int = 2, observed: int = 2, partition: int = 0
) -> dict[str, Any]:
    return {
        "metadata": {"name": "orders", "namespace": "shop", "generation": generation},
        "spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}},
        "status": {"observedGeneration": observed, "currentRevision": current, "updateRevision": update},
    }


def pod(
    index: int, revision: str, ready: bool = True, for_seconds: float = 300, deleting: bool = False
) -> dict[str, Any]:
    since = (NOW - timedelta(seconds=for_seconds)).isoformat().replace("+00:00", "Z")
    metadata: dict[str, Any] = {
        "name": f"orders-{index}",
        "uid": f"uid-{index}-{revision}",
        "labels": {"controller-revision-hash": revision},
    }
    if deleting:
        metadata["deletionTimestamp"] = since
    ready_condition = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": since}
    return {"metadata": metadata, "status": {"conditions": [ready_condition]}}


def stuck(statefulset: dict[str, Any], *pods: dict[str, Any], primary: str = "orders-0") -> list[str]:
    found, _ = stuck_pods(statefulset, {p["metadata"]["name"]: p for p in pods}, primary, NOW, AFTER)
    return [s.name for s in found]


def test_a_replica_of_the_old_revision_not_ready_past_the_delay_is_deleted() -> None:
    # The bad configuration's pod (orders-2, now an old revision) crash-loops after the spec was fixed.
    assert stuck(rolling(), pod(0, "old"), pod(1, "old"), pod(2, "old", ready=False, for_seconds=61)) == ["orders-2"]


def test_not_before_the_delay_and_the_daemon_is_told_when_to_look_again() -> None:
    pods = {"orders-0": pod(0, "old"), "orders-1": pod(1, "old", ready=False, for_seconds=20)}
    found, wait = stuck_pods(rolling(), pods, "orders-0", NOW, AFTER)
    assert found == [] and wait == pytest.approx(40)


def test_never_a_pod_of_the_update_revision_however_long_it_fails() -> None:
    assert stuck(rolling(), pod(0, "old"), pod(1, "new", ready=False, for_seconds=3600)) == []


def test_no_old_pod_is_replaced_while_the_new_template_fails() -> None:
    """A bad setting just applied: its pod (orders-2) crash-loops, and an old pod having trouble of its own must not
    be made broken too; the StatefulSet holds the rollout, as it should, until the spec is fixed."""
    pods = (pod(0, "old"), pod(1, "old", ready=False, for_seconds=600), pod(2, "new", ready=False))
    assert stuck(rolling(), *pods) == []
    assert stuck(rolling(update="fixed"), *pods) == ["orders-1", "orders-2"]  # fixed: both are out of date


def test_never_a_ready_pod_nor_one_already_going() -> None:
    assert stuck(rolling(), pod(0, "old"), pod(1, "old"), pod(2, "old", ready=False, deleting=True)) == []


def test_not_below_the_partition_of_a_partitioned_rollout() -> None:
    """There the StatefulSet would make the pod again from the old template: deleting it would change nothing."""
    assert stuck(rolling(partition=1), pod(0, "old", ready=False), pod(1, "old", ready=False)) == ["orders-1"]


def test_nothing_while_the_statefulset_status_lags_its_spec() -> None:
    # updateRevision is of the previous template until the controller has seen the new one.
    assert stuck(rolling(observed=1), pod(0, "old"), pod(1, "old", ready=False)) == []


def test_the_primary_is_left_to_failover_while_a_replica_is_ready() -> None:
    broken_primary = pod(0, "old", ready=False, for_seconds=600)
    assert stuck(rolling(), broken_primary, pod(1, "old")) == []
    assert stuck(rolling(), broken_primary, pod(1, "old"), primary="orders-1") == ["orders-0"]  # failed over


def test_the_primary_is_deleted_when_nothing_could_take_over() -> None:
    # One replica (the case seen: a bad parameter, then the fix), or no pod ready to be promoted.
    assert stuck(rolling(), pod(0, "old", ready=False)) == ["orders-0"]
    assert stuck(rolling(), pod(0, "old", ready=False), pod(1, "other", ready=False)) == ["orders-0", "orders-1"]


@pytest.fixture
def body(database: MakeDatabase) -> kopf.Body:
    return database(type="postgresql", replicas=1)


def test_the_pod_is_deleted_with_an_event_and_no_volume_is_touched(
    runtime: Runtime, kube: FakeKube, events: Events, body: kopf.Body
) -> None:
    tracker: DatabaseTracker = runtime.tracker("shop", "orders", {"currentPrimary": "orders-0"})
    tracker.statefulset = rolling()
    now = datetime.now(UTC)
    tracker.pods = {"orders-0": pod(0, "old", ready=False, for_seconds=(now - NOW).total_seconds() + 120)}
    assert asyncio.run(unwedge_rollout(runtime, tracker, body)) is None
    assert kube.actions == [("delete-pod", "orders-0", None)]  # the pod only: never its claim
    [(kind, _, message)] = [e for e in events.posted if e[1] == "StuckPodReplaced"]
    assert kind == "Warning" and "orders-0" in message


def test_a_pod_whose_deletion_the_watch_has_not_shown_yet_is_not_deleted_or_reported_again(
    runtime: Runtime, kube: FakeKube, events: Events, body: kopf.Body
) -> None:
    tracker: DatabaseTracker = runtime.tracker("shop", "orders", {"currentPrimary": "orders-0"})
    tracker.statefulset = rolling()
    not_ready_for = (datetime.now(UTC) - NOW).total_seconds() + 120
    tracker.pods = {"orders-0": pod(0, "old", ready=False, for_seconds=not_ready_for)}
    asyncio.run(unwedge_rollout(runtime, tracker, body))
    asyncio.run(unwedge_rollout(runtime, tracker, body))  # woken again before the pod's deletion was seen
    assert kube.actions == [("delete-pod", "orders-0", None)]
    assert [e[1] for e in events.posted].count("StuckPodReplaced") == 1

    # The StatefulSet made it again, and the new pod is stuck too: that one is replaced in its turn.
    tracker.pods = {"orders-0": pod(0, "other", ready=False, for_seconds=not_ready_for)}
    asyncio.run(unwedge_rollout(runtime, tracker, body))
    assert kube.actions == [("delete-pod", "orders-0", None)] * 2
    assert tracker.replaced_pods == {"uid-0-other"}

"""Failover and switchover: which replica wins, fencing before promotion, nothing promoted while the operator
cannot tell, the decision recorded before it is acted on, and the Event and condition naming old and new."""

import asyncio
from typing import Any

import kopf
import pytest

from database_api.profiles import Engine
from database_operator.failover import reconcile_primary
from database_operator.primary import Position, PositionError, choose, fenced_at, parse_position
from database_operator.runtime import DatabaseTracker, Runtime
from tests.operator.conftest import FakeKube, MakeDatabase


def pg(received: str, replayed: str | None = None) -> Position:
    return parse_position(Engine.POSTGRESQL, f"standby {received} {replayed or received}")


def maria(server: int, replicated: str, logged: str = "-", received: str = "-") -> Position:
    return parse_position(Engine.MARIADB, f"replica {server} {replicated} {logged} {received}")


def test_the_most_advanced_replica_wins_by_what_it_received() -> None:
    # orders-2 has replayed less but received more: promotion replays all it received first.
    positions = {"orders-1": pg("0/3000060"), "orders-2": pg("0/3000100", "0/3000000")}
    assert choose(positions).pod == "orders-2"
    assert choose({"orders-1": pg("1/0"), "orders-2": pg("0/FFFFFFFF")}).pod == "orders-1"  # LSNs compare as numbers


def test_two_equally_advanced_replicas_give_the_lowest_ordinal_every_time() -> None:
    positions = {"orders-10": pg("0/5000000"), "orders-2": pg("0/5000000"), "orders-3": pg("0/4000000")}
    assert choose(positions).pod == "orders-2"
    assert choose(dict(reversed(list(positions.items())))).pod == "orders-2"


def test_a_switchover_target_wins_only_when_it_has_everything() -> None:
    positions = {"orders-1": pg("0/5000000"), "orders-2": pg("0/5000000")}
    assert choose(positions, "orders-2").pod == "orders-2"
    behind = {"orders-1": pg("0/5000000"), "orders-2": pg("0/4000000")}
    chosen = choose(behind, "orders-2")
    assert chosen.pod == "orders-1" and "orders-2 is behind" in chosen.reason


def test_only_a_well_formed_position_is_passed_on_to_another_pod() -> None:
    """The fenced primary's answer becomes an argument of a step in the target pod: never anything but a position."""
    assert fenced_at(Engine.POSTGRESQL, "fenced 0/5000000\n") == "0/5000000"
    assert fenced_at(Engine.MARIADB, "fenced 0-1-42,1-2-7\n") == "0-1-42,1-2-7"
    for answer in ("fenced 0/1'; DROP TABLE t; --", "fenced", "0/5000000", "fenced 0/1 0/2"):
        assert fenced_at(Engine.POSTGRESQL, answer) is None
    assert fenced_at(Engine.MARIADB, "fenced 0-1-42'),SLEEP(9") is None


def test_nothing_is_promoted_when_no_replica_can_say_how_far_it_is() -> None:
    assert choose({}).pod is None


def test_a_primary_or_a_nonsense_answer_is_no_candidate() -> None:
    for answer in ("primary", "standby 0/1", "standby x/y 0/1", ""):
        with pytest.raises(PositionError):
            parse_position(Engine.POSTGRESQL, answer)


def test_mariadb_compares_gtids_per_domain() -> None:
    positions = {"orders-1": maria(2, "0-1-41"), "orders-2": maria(3, "0-1-40", "0-1-40", "0-1-42")}
    assert choose(positions).pod == "orders-2"  # received 42, applies it before it is promoted


def test_mariadb_histories_that_diverged_promote_nobody() -> None:
    # Same sequence number written by different servers: neither has what the other has.
    positions = {"orders-1": maria(2, "0-1-42"), "orders-2": maria(3, "0-3-42")}
    assert choose(positions).pod is None
    # Each ahead in another domain.
    assert choose({"orders-1": maria(2, "0-1-5,1-1-3"), "orders-2": maria(3, "0-1-4,1-1-9")}).pod is None


def test_a_mariadb_replica_with_errant_transactions_is_no_candidate() -> None:
    with pytest.raises(PositionError, match="errant"):
        maria(2, "0-1-41", "0-2-42")  # server 2 wrote 0-2-42 itself, past what it replicated
    # Its own writes from when it was the primary, before what it replicated since: not errant.
    assert maria(2, "0-1-50", "0-2-42").domains == {0: (50, 1)}


def pod(index: int, ready: bool = True, running: bool = True, role: str | None = None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/instance": "orders", "apps.kubernetes.io/pod-index": str(index)}
    if role:
        labels["database.example.com/role"] = role
    state = {"running": {}} if running else {"waiting": {"reason": "CrashLoopBackOff"}}
    return {
        "metadata": {"name": f"orders-{index}", "namespace": "shop", "labels": labels},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "postgresql", "state": state}],
        },
    }


@pytest.fixture
def body(database: MakeDatabase) -> kopf.Body:
    return database(type="postgresql", replicas=3)


@pytest.fixture
def tracker(runtime: Runtime, body: kopf.Body) -> DatabaseTracker:
    tracker = runtime.tracker("shop", "orders", {"currentPrimary": "orders-0"})
    tracker.pods = {
        "orders-0": pod(0, role="primary"),
        "orders-1": pod(1, role="replica"),
        "orders-2": pod(2, role="replica"),
    }
    return tracker


def reconcile(runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> float | None:
    return asyncio.run(reconcile_primary(runtime, tracker, body))


def primary_fails(tracker: DatabaseTracker, runtime: Runtime, body: kopf.Body) -> None:
    """The primary's server dies; the failover delay passes."""
    tracker.pods["orders-0"] = pod(0, ready=False, running=False, role="primary")
    tracker.pods["orders-1"] = pod(1, ready=False, role="replica")  # no primary to stream from
    tracker.pods["orders-2"] = pod(2, ready=False, role="replica")
    wait = reconcile(runtime, tracker, body)
    assert wait is not None and 0 < wait <= runtime.settings.failover_after_seconds
    assert tracker.primary_down_since is not None
    tracker.primary_down_since -= runtime.settings.failover_after_seconds  # the delay has passed


def test_a_failover_fences_then_promotes_the_most_advanced_replica(
    runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body, kube: FakeKube
) -> None:
    kube.exec_answers = {
        ("orders-0", "fence"): None,  # the old primary does not answer
        ("orders-1", "position"): "standby 0/3000000 0/3000000\n",
        ("orders-2", "position"): "standby 0/3000100 0/3000000\n",
    }
    primary_fails(tracker, runtime, body)
    assert reconcile(runtime, tracker, body) is None
    assert kube.actions == [
        ("exec", "orders-1", "position"),  # someone could take over, or the primary is not fenced
        ("exec", "orders-2", "position"),
        ("patch-pod", "orders-0", {"labels": {"database.example.com/role": "fenced"}}),  # out of the Service first
        ("exec", "orders-0", "fence"),
        ("exec", "orders-1", "position"),
        ("exec", "orders-2", "position"),
        ("exec", "orders-2", "promote"),
        ("patch-pod", "orders-2", {"labels": {"database.example.com/role": "primary"}}),
        ("delete-pod", "orders-0", None),  # comes back as a replica; its volume is never touched
        ("exec", "orders-1", "follow"),
    ]
    # Recorded before the promotion, so that an operator restarting meanwhile carries on with orders-2.
    recorded = next(i for i, patch in enumerate(kube.patches) if patch.get("currentPrimary") == "orders-2")
    promoting = next(i for i, patch in enumerate(kube.patches) if "Promoting" in str(patch.get("conditions")))
    assert recorded <= promoting
    condition = next(c for c in kube.status()["conditions"] if c["type"] == "PrimaryAvailable")
    assert (condition["status"], condition["reason"]) == ("True", "FailedOver")
    assert "orders-0 -> orders-2" in condition["message"]
    assert kube.status()["currentPrimary"] == "orders-2"
    # The new primary shows ready only after its next probes: no second failover meanwhile.
    tracker.pods["orders-2"] = pod(2, ready=False, role="primary")
    wait = reconcile(runtime, tracker, body)
    assert wait is not None and wait > runtime.settings.failover_after_seconds
    assert [step for _, step in kube.execs].count("promote") == 1


def test_a_primary_is_not_fenced_when_no_replica_could_take_over(
    runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body, kube: FakeKube
) -> None:
    """Replicas that cannot say their position (down, or an engine the pod scripts do not speak): fencing the
    primary would stop the writes until a human came, instead of until it is back."""
    kube.exec_answers = {("orders-1", "position"): None, ("orders-2", "position"): None}
    primary_fails(tracker, runtime, body)
    assert reconcile(runtime, tracker, body) is not None  # looks again later
    assert kube.actions == [("exec", "orders-1", "position"), ("exec", "orders-2", "position")]
    condition = next(c for c in kube.status()["conditions"] if c["type"] == "PrimaryAvailable")
    assert condition["reason"] == "NoPromotableReplica" and "orders-0 is left as it is" in condition["message"]


def test_a_not_ready_primary_is_not_failed_over_before_the_delay(
    runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body, kube: FakeKube
) -> None:
    tracker.pods["orders-0"] = pod(0, ready=False, role="primary")
    assert reconcile(runtime, tracker, body) is not None
    tracker.pods["orders-0"] = pod(0, role="primary")  # back within the delay
    assert reconcile(runtime, tracker, body) is None
    assert tracker.primary_down_since is None
    assert kube.execs == [] and kube.status().get("currentPrimary") is None


def test_nothing_is_promoted_while_no_replica_answers(
    runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body, kube: FakeKube
) -> None:
    kube.exec_answers = {("orders-1", "position"): None, ("orders-2", "position"): None}
    primary_fails(tracker, runtime, body)
    assert reconcile(runtime, tracker, body) == runtime.settings.failover_after_seconds  # looks again later
    assert not [step for _, step in kube.execs if step == "promote"]
    assert "currentPrimary" not in kube.status()
    condition = next(c for c in kube.status()["conditions"] if c["type"] == "PrimaryAvailable")
    assert (condition["status"], condition["reason"]) == ("False", "NoPromotableReplica")


def test_a_running_primary_is_never_a_candidate(
    runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body, kube: FakeKube
) -> None:
    """A replica that answers as a primary (its own writes) is not promoted over: two primaries never."""
    kube.exec_answers = {("orders-1", "position"): "primary\n", ("orders-2", "position"): "standby 0/1 0/1\n"}
    primary_fails(tracker, runtime, body)
    reconcile(runtime, tracker, body)
    assert ("orders-2", "promote") in kube.execs and ("orders-1", "promote") not in kube.execs


def test_a_database_with_one_pod_never_fails_over(
    runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body, kube: FakeKube
) -> None:
    tracker.pods = {"orders-0": pod(0, ready=False, role="primary")}
    assert reconcile(runtime, tracker, body) is None
    assert kube.execs == []


def test_a_new_database_records_its_first_primary_once_ready(runtime: Runtime, body: kopf.Body, kube: FakeKube) -> None:
    tracker = runtime.tracker("shop", "orders", {})
    tracker.pods = {"orders-0": pod(0, ready=False), "orders-1": pod(1, ready=False)}
    assert reconcile(runtime, tracker, body) is None  # not ready yet: nothing recorded, no failover
    assert "currentPrimary" not in kube.status() and kube.execs == []
    tracker.pods["orders-0"] = pod(0, role="primary")
    reconcile(runtime, tracker, body)
    assert kube.status()["currentPrimary"] == "orders-0"


def test_a_switchover_waits_for_the_target_to_have_the_last_write(
    runtime: Runtime, tracker: DatabaseTracker, database: MakeDatabase, kube: FakeKube
) -> None:
    body = database(type="postgresql", replicas=3, annotations={"database.example.com/switchover-to": "orders-1"})
    kube.exec_answers = {
        ("orders-0", "fence"): "fenced 0/5000000\n",
        ("orders-1", "position"): "standby 0/5000028 0/5000028\n",
        ("orders-2", "position"): "standby 0/5000028 0/5000028\n",
    }
    reconcile(runtime, tracker, body)
    steps = [(pod, step) for pod, step in kube.execs]
    assert steps[2:5] == [("orders-0", "fence"), ("orders-1", "catch-up 0/5000000"), ("orders-1", "position")]
    assert ("orders-1", "promote") in steps
    assert kube.status()["currentPrimary"] == "orders-1"
    assert kube.actions[-1] == ("remove-annotation", "orders", "database.example.com/switchover-to")
    condition = next(c for c in kube.status()["conditions"] if c["type"] == "PrimaryAvailable")
    assert condition["reason"] == "SwitchedOver" and "orders-0 -> orders-1" in condition["message"]


def test_a_switchover_to_a_pod_that_is_not_a_ready_replica_is_refused(
    runtime: Runtime, tracker: DatabaseTracker, database: MakeDatabase, kube: FakeKube
) -> None:
    body = database(type="postgresql", replicas=3, annotations={"database.example.com/switchover-to": "orders-7"})
    reconcile(runtime, tracker, body)
    assert kube.execs == [] and kube.status().get("currentPrimary") is None
    assert kube.actions == [("remove-annotation", "orders", "database.example.com/switchover-to")]


def test_a_replica_that_does_not_replicate_is_told_to_follow_now_and_then(
    runtime: Runtime, tracker: DatabaseTracker, body: kopf.Body, kube: FakeKube
) -> None:
    """An old primary back as a replica (or one whose source went away) follows the primary; ready replicas, the
    primary and pods whose server is not running are left alone."""
    tracker.pods["orders-1"] = pod(1, ready=False, role="replica")
    tracker.pods["orders-2"] = pod(2, ready=False, running=False, role="replica")
    reconcile(runtime, tracker, body)
    reconcile(runtime, tracker, body)  # not again within FOLLOW_INTERVAL_SECONDS
    assert kube.execs == [("orders-1", "follow")]

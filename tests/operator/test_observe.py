"""Watches: which changes count as drift, readiness, and lastBackup from backup Jobs."""

import asyncio
import time
from typing import Any

import kopf
import pytest

from database_operator.apply import apply_database
from database_operator.observe import observe_backup_job, observe_owned_object, watch_database, write_backup_status
from database_operator.runtime import DatabaseTracker, Runtime
from tests.operator.conftest import Events, FakeKube, FakeStacks, MakeDatabase, result, statefulset


@pytest.fixture
def tracker(runtime: Runtime, database: MakeDatabase) -> DatabaseTracker:
    asyncio.run(apply_database(runtime, database(), retry=0))
    tracker = runtime.trackers[("shop", "orders")]
    tracker.quiet_until = 0  # our own change window is over
    return tracker


def config_map(event_labels: dict[str, str] | None = None) -> kopf.Body:
    labels = event_labels or {"app.kubernetes.io/instance": "orders"}
    return kopf.Body(
        {"kind": "ConfigMap", "metadata": {"name": "orders-config", "namespace": "shop", "labels": labels}}
    )


def test_initial_listing_is_not_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, None, statefulset(1, 1))
    observe_owned_object(runtime, None, config_map())
    assert not tracker.drift_suspected


def test_a_deleted_statefulset_is_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, None, statefulset(1, 1))
    observe_owned_object(runtime, "DELETED", statefulset(1, 1))
    assert tracker.drift_suspected and tracker.statefulset is None


def test_a_spec_change_by_hand_is_drift_but_a_status_change_is_not(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, None, statefulset(1, 0, generation=1))
    observe_owned_object(runtime, "MODIFIED", statefulset(1, 1, generation=1))  # pods became ready
    assert not tracker.drift_suspected
    observe_owned_object(runtime, "MODIFIED", statefulset(5, 1, generation=2))  # kubectl scale sts
    assert tracker.drift_suspected


def test_an_edited_config_map_is_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, "MODIFIED", config_map())
    assert tracker.drift_suspected


def test_our_own_changes_are_not_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    tracker.quiet_until = time.monotonic() + 60
    observe_owned_object(runtime, "MODIFIED", config_map())
    observe_owned_object(runtime, "DELETED", statefulset(1, 1))
    assert not tracker.drift_suspected


def test_objects_of_unknown_databases_are_ignored(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, "DELETED", config_map({"app.kubernetes.io/instance": "someone-else"}))
    assert not tracker.drift_suspected


def job(name: str, outcome: str, finished: str, reason: str = "") -> kopf.Body:
    condition: dict[str, Any] = {"type": outcome, "status": "True", "lastTransitionTime": finished, "reason": reason}
    status: dict[str, Any] = {"conditions": [condition]}
    if outcome == "Complete":
        status["completionTime"] = finished
    labels = {"app.kubernetes.io/instance": "orders", "app.kubernetes.io/component": "backup"}
    return kopf.Body(
        {"kind": "Job", "metadata": {"name": name, "namespace": "shop", "labels": labels}, "status": status}
    )


def test_last_backup_is_the_completion_time_of_the_newest_successful_job(
    runtime: Runtime, tracker: DatabaseTracker, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    observe_backup_job(runtime, job("orders-backup-1", "Complete", "2026-11-20T02:00:41Z"))
    observe_backup_job(runtime, job("orders-backup-2", "Complete", "2026-11-21T02:00:37Z"))
    asyncio.run(write_backup_status(runtime, tracker, database()))
    assert kube.status()["lastBackup"] == "2026-11-21T02:00:37Z"

    observe_backup_job(runtime, job("orders-backup-3", "Failed", "2026-11-22T02:05:00Z", reason="BackoffLimitExceeded"))
    asyncio.run(write_backup_status(runtime, tracker, database()))
    assert kube.status()["lastBackup"] == "2026-11-21T02:00:37Z"  # a failure never moves it
    failed = kube.condition("BackupFailed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    assert events.posted[-1][:2] == ("Warning", "BackupFailed")

    observe_backup_job(runtime, job("orders-backup-4", "Complete", "2026-11-23T02:00:30Z"))
    asyncio.run(write_backup_status(runtime, tracker, database()))
    assert kube.condition("BackupFailed")["status"] == "False"
    assert kube.status()["lastBackup"] == "2026-11-23T02:00:30Z"
    assert events.reasons().count("BackupFailed") == 1


def test_running_jobs_change_nothing(runtime: Runtime, tracker: DatabaseTracker) -> None:
    running = kopf.Body(
        {
            "kind": "Job",
            "metadata": {"name": "b", "namespace": "shop", "labels": {"app.kubernetes.io/instance": "orders"}},
        }
    )
    observe_backup_job(runtime, running)
    assert not tracker.backups_changed


class StopAfter:
    """Stands in for kopf's DaemonStopped: false for `rounds` checks, then true."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def __bool__(self) -> bool:
        self.rounds -= 1
        return self.rounds < 0


def test_watcher_corrects_suspected_drift(
    runtime: Runtime, tracker: DatabaseTracker, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    tracker.applied_generation = 1
    stacks.preview_results.append(result("preview", create=1, same=5))
    observe_owned_object(runtime, "DELETED", statefulset(1, 1))
    asyncio.run(watch_database(runtime, database(), StopAfter(1)))
    assert stacks.kinds()[-2:] == ["preview", "up"]
    assert kube.condition("Drifted")["reason"] == "DriftCorrected"
    assert kube.status()["phase"] == "Creating"  # the StatefulSet is gone until up recreates it

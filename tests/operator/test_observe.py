"""Watches: which changes count as drift, readiness, and lastBackup from backup Jobs."""

import asyncio
from typing import Any

import kopf
import pytest

from database_operator.apply import apply_database
from database_operator.observe import observe_backup_job, observe_owned_object, watch_database, write_backup_status
from database_operator.runtime import DatabaseTracker, Runtime
from tests.operator.conftest import Events, FakeKube, FakeStacks, MakeDatabase, managed_by, result, statefulset


@pytest.fixture
def tracker(runtime: Runtime, database: MakeDatabase) -> DatabaseTracker:
    asyncio.run(apply_database(runtime, database(), retry=0))
    return runtime.trackers[("shop", "orders")]


def config_map(writer: str = "pulumi-kubernetes-5f2a", instance: str = "orders") -> kopf.Body:
    metadata = {
        "name": "orders-config",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/instance": instance},
        "managedFields": managed_by((writer, None)),
    }
    return kopf.Body({"kind": "ConfigMap", "metadata": metadata})


def test_initial_listing_is_not_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, None, statefulset(1, 1))
    observe_owned_object(runtime, None, config_map("kubectl-edit"))
    assert not tracker.drift_suspected


def test_a_deleted_statefulset_is_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, "DELETED", statefulset(1, 1))
    assert tracker.drift_suspected and tracker.statefulset is None


def test_status_updates_and_our_own_writes_are_not_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    by_controller = managed_by(("pulumi-kubernetes-5f2a", None), ("kube-controller-manager", "status"))
    observe_owned_object(runtime, "MODIFIED", statefulset(1, 1, writers=by_controller))
    observe_owned_object(runtime, "MODIFIED", config_map("pulumi-kubernetes-5f2a"))
    assert not tracker.drift_suspected


def test_a_scale_by_hand_is_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    scaled = managed_by(("pulumi-kubernetes-5f2a", None), ("kubectl", "scale"), ("kube-controller-manager", "status"))
    observe_owned_object(runtime, "MODIFIED", statefulset(5, 1, generation=2, writers=scaled))
    assert tracker.drift_suspected


def test_an_edited_config_map_is_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, "MODIFIED", config_map("kubectl-edit"))
    assert tracker.drift_suspected


def test_changes_during_our_own_operation_are_not_drift(runtime: Runtime, tracker: DatabaseTracker) -> None:
    async def during_operation() -> None:
        async with tracker.operation:
            observe_owned_object(runtime, "DELETED", statefulset(1, 1))
            observe_owned_object(runtime, "MODIFIED", config_map("kubectl-edit"))

    asyncio.run(during_operation())
    assert not tracker.drift_suspected


def test_objects_of_unknown_databases_are_ignored(runtime: Runtime, tracker: DatabaseTracker) -> None:
    observe_owned_object(runtime, "DELETED", config_map(instance="someone-else"))
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
    assert stacks.kinds()[-2:] == ["check_drift", "correct_drift"]
    assert kube.condition("Drifted")["reason"] == "DriftCorrected"
    assert kube.status()["phase"] == "Creating"  # the StatefulSet is gone until up recreates it


def test_what_watches_see_before_a_databases_first_handler_is_kept(
    runtime: Runtime, kube: FakeKube, database: MakeDatabase
) -> None:
    """After a restart the initial listing can deliver the StatefulSet before the Database's handler runs."""
    observe_owned_object(runtime, None, statefulset(replicas=1, ready=1))
    body = database(generation=1)
    asyncio.run(apply_database(runtime, body, retry=0))
    assert kube.status()["phase"] == "Ready" and kube.status()["ready"] is True

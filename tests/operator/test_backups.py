"""On-demand backups and restores: Jobs from the Database's CronJob, their status, and what a restore loads."""

import asyncio
import json
from typing import Any

import kopf
import pytest

from database_api.profiles import Engine
from database_api.spec import SpecError
from database_operator.apply import apply_database
from database_operator.backups import (
    BACKUP_LABEL,
    BackupNotReady,
    job_name,
    observe_on_demand_job,
    on_demand_job,
    resolve_restore,
    restore_mount_left,
    start_backup,
    status_from_job,
)
from database_operator.observe import write_readiness
from database_operator.runtime import Runtime
from tests.operator.conftest import Events, FakeKube, FakeStacks, MakeDatabase, statefulset

LABELS = {
    "app.kubernetes.io/name": "postgresql",
    "app.kubernetes.io/instance": "orders",
    "app.kubernetes.io/component": "backup",
    "app.kubernetes.io/managed-by": "database-operator",
}
CRON_JOB = {
    "metadata": {"name": "orders-backup", "namespace": "shop"},
    "spec": {
        "schedule": "0 2 * * *",
        "jobTemplate": {
            "metadata": {"labels": LABELS},
            "spec": {
                "backoffLimit": 2,
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {"containers": [{"name": "backup", "env": [{"name": "DB_NAME", "value": "orders"}]}]},
                },
            },
        },
    },
}


def backup_body(name: str = "before-migration", database: str = "orders", **status: Any) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "database.example.com/v1",
            "kind": "DatabaseBackup",
            "metadata": {"name": name, "namespace": "shop", "uid": "b-1"},
            "spec": {"database": database},
            "status": status,
        }
    )


def test_an_on_demand_job_is_the_scheduled_job_named_after_its_backup() -> None:
    job = on_demand_job(CRON_JOB, backup_body())
    assert job["metadata"]["name"] == "backup-before-migration"
    assert job["metadata"]["labels"] == {**LABELS, BACKUP_LABEL: "before-migration"}
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "database.example.com/v1",
            "kind": "DatabaseBackup",
            "name": "before-migration",
            "uid": "b-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"]["backoffLimit"] == 2
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {"name": "DB_NAME", "value": "orders"},
        {"name": "BACKUP_NAME", "value": "before-migration"},
    ]
    assert CRON_JOB["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"] == [  # type: ignore[index]
        {"name": "DB_NAME", "value": "orders"}
    ]  # the CronJob itself is left alone


def test_long_backup_names_make_valid_job_names() -> None:
    assert len(job_name("x" * 200)) == 63 and job_name("x" * 200) != job_name("x" * 199 + "y")


def job(conditions: list[dict[str, str]], completion: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "backup-before-migration",
            "namespace": "shop",
            "labels": {**LABELS, BACKUP_LABEL: "before-migration"},
            "creationTimestamp": "2026-11-22T10:00:00Z",
            "ownerReferences": [
                {
                    "apiVersion": "database.example.com/v1",
                    "kind": "DatabaseBackup",
                    "name": "before-migration",
                    "uid": "b-1",
                }
            ],
        },
        "status": {"startTime": "2026-11-22T10:00:01Z", "conditions": conditions, "completionTime": completion},
    }


COMPLETE = [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-22T10:00:09Z"}]
FAILED = [
    {
        "type": "Failed",
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
        "lastTransitionTime": "2026-11-22T10:01:00Z",
    }
]


def test_status_follows_the_job() -> None:
    running = status_from_job(job([]), Engine.POSTGRESQL, [])
    assert (running["phase"], running["inProgress"], running["startTime"]) == ("Running", True, "2026-11-22T10:00:01Z")

    report = json.dumps({"artifact": "/backups/before-migration.dump", "size": 2048})
    done = status_from_job(job(COMPLETE, "2026-11-22T10:00:09Z"), Engine.POSTGRESQL, ["not json", report])
    assert done == {
        "phase": "Succeeded",
        "inProgress": False,
        "job": "backup-before-migration",
        "startTime": "2026-11-22T10:00:01Z",
        "completionTime": "2026-11-22T10:00:09Z",
        "volume": "orders-backup",
        "artifact": "/backups/before-migration.dump",
        "sizeBytes": 2048,
        "message": "",
    }
    unreported = status_from_job(job(COMPLETE, "2026-11-22T10:00:09Z"), Engine.MYSQL, [])
    assert unreported["artifact"] == "/backups/before-migration.sql.gz" and "sizeBytes" not in unreported

    failed = status_from_job(job(FAILED), Engine.POSTGRESQL, [])
    assert failed["phase"] == "Failed" and not failed["inProgress"]
    assert failed["message"] == "BackoffLimitExceeded: Job has reached the specified backoff limit"


def stored_database(backups: bool) -> dict[str, Any]:
    return {"spec": {"type": "postgresql", "backup": {"enabled": backups}}}


def test_a_backup_starts_a_job_and_reports_it(runtime: Runtime, kube: FakeKube, events: Events) -> None:
    kube.databases[("shop", "orders")] = stored_database(backups=True)
    kube.cron_jobs[("shop", "orders-backup")] = CRON_JOB
    asyncio.run(start_backup(runtime, backup_body()))
    [created] = kube.jobs
    assert created["metadata"]["name"] == "backup-before-migration"
    status = kube.backup_statuses[("shop", "before-migration")]
    assert (status["phase"], status["inProgress"], status["volume"]) == ("Running", True, "orders-backup")
    assert events.reasons() == ["BackupStarted"]


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (None, "spec.database: Database orders not found in namespace shop"),
        (stored_database(backups=False), "spec.database: Database orders has no backup storage"),
    ],
)
def test_a_backup_of_a_database_without_backup_storage_fails_clearly(
    runtime: Runtime, kube: FakeKube, events: Events, stored: dict[str, Any] | None, message: str
) -> None:
    if stored is not None:
        kube.databases[("shop", "orders")] = stored
    asyncio.run(start_backup(runtime, backup_body()))
    status = kube.backup_statuses[("shop", "before-migration")]
    assert status["phase"] == "Failed" and status["message"].startswith(message)
    assert events.posted[-1][:2] == ("Warning", "BackupFailed")
    assert kube.jobs == []


def test_a_backup_waits_for_its_databases_cron_job(runtime: Runtime, kube: FakeKube) -> None:
    kube.databases[("shop", "orders")] = stored_database(backups=True)
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(start_backup(runtime, backup_body()))
    assert kube.backup_statuses[("shop", "before-migration")]["phase"] == "Pending"


def test_a_finished_job_updates_its_backup(runtime: Runtime, kube: FakeKube, events: Events) -> None:
    kube.messages["backup-before-migration"] = ['{"artifact": "/backups/before-migration.dump", "size": 7}']
    asyncio.run(observe_on_demand_job(runtime, kopf.Body(job(COMPLETE, "2026-11-22T10:00:09Z"))))
    assert kube.backup_statuses[("shop", "before-migration")]["sizeBytes"] == 7
    asyncio.run(observe_on_demand_job(runtime, kopf.Body(job(FAILED))))
    assert kube.backup_statuses[("shop", "before-migration")]["phase"] == "Failed"
    assert events.posted[-1][:2] == ("Warning", "BackupFailed")


SUCCEEDED = {"phase": "Succeeded", "volume": "orders-backup", "artifact": "/backups/before-migration.sql.gz"}


def test_a_restore_resolves_a_succeeded_backup_once(runtime: Runtime, kube: FakeKube) -> None:
    spec = {"restore": {"backup": "before-migration"}}
    assert asyncio.run(resolve_restore(runtime, "shop", {}, None)) is None
    with pytest.raises(BackupNotReady, match="DatabaseBackup before-migration not found"):
        asyncio.run(resolve_restore(runtime, "shop", spec, None))
    kube.database_backups[("shop", "before-migration")] = {"status": {"phase": "Running"}}
    with pytest.raises(BackupNotReady, match="is Running"):
        asyncio.run(resolve_restore(runtime, "shop", spec, None))
    kube.database_backups[("shop", "before-migration")] = {"status": {"phase": "Failed", "message": "disk full"}}
    with pytest.raises(SpecError, match=r"spec\.restore\.backup: DatabaseBackup before-migration failed: disk full"):
        asyncio.run(resolve_restore(runtime, "shop", spec, None))
    kube.database_backups[("shop", "before-migration")] = {"status": SUCCEEDED}
    resolved = asyncio.run(resolve_restore(runtime, "shop", spec, None))
    assert resolved == {"backup": "before-migration", **{k: v for k, v in SUCCEEDED.items() if k != "phase"}}
    del kube.database_backups[("shop", "before-migration")]  # deleted later: the recorded resolution stands
    assert asyncio.run(resolve_restore(runtime, "shop", spec, resolved)) == resolved


def test_a_restored_database_waits_for_its_backup_then_loads_it(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    body = database(restore={"backup": "before-migration"})
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(apply_database(runtime, body, retry=0))
    assert stacks.calls == []
    assert kube.condition("Reconciled")["reason"] == "WaitingForBackup"
    assert events.reasons() == ["WaitingForBackup"]

    kube.database_backups[("shop", "before-migration")] = {"status": SUCCEEDED}
    asyncio.run(apply_database(runtime, body, retry=1))
    [(_, request, _)] = stacks.calls
    assert request.restore == {"claim": "orders-backup", "file": "before-migration.sql.gz"}
    assert kube.status()["restoredFrom"]["backup"] == "before-migration"


def statefulset_mounting(*volumes: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"volumes": [{"name": volume} for volume in volumes]}}}}


def test_once_the_first_primary_was_ready_the_pods_no_longer_mount_the_source_backup_volume(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    """The dump is loaded before the first primary's server may start: after that the restored Database never
    depends on the source's backup volume, which may go with its own Database."""
    kube.database_backups[("shop", "before-migration")] = {"status": SUCCEEDED}
    body = database(restore={"backup": "before-migration"})
    asyncio.run(apply_database(runtime, body, retry=0))
    status = kube.status()
    assert restore_mount_left(status, statefulset_mounting("data", "restore")) is False  # not loaded yet

    status["currentPrimary"] = "orders-0"  # recorded by the watch once orders-0 was ready
    assert restore_mount_left(status, statefulset_mounting("data", "restore")) is True
    assert restore_mount_left(status, statefulset_mounting("data")) is False
    assert restore_mount_left({"currentPrimary": "orders-0"}, statefulset_mounting("restore")) is False  # no restore

    tracker = runtime.trackers[("shop", "orders")]
    tracker.status["currentPrimary"] = "orders-0"
    asyncio.run(apply_database(runtime, database(restore={"backup": "before-migration"}, generation=2), retry=0))
    request = stacks.calls[-1][1]
    assert request.restore is None
    assert kube.status()["restoredFrom"]["backup"] == "before-migration"  # still what it was made from


def test_a_restored_database_is_ready_only_once_its_pods_no_longer_mount_the_dump(
    runtime: Runtime, kube: FakeKube, database: MakeDatabase
) -> None:
    """Its pods restart once after the first primary was ready (to drop the mount): Ready before that would hand
    applications a server about to restart."""
    kube.database_backups[("shop", "before-migration")] = {"status": SUCCEEDED}
    body = database(restore={"backup": "before-migration"})
    asyncio.run(apply_database(runtime, body, retry=0))
    tracker = runtime.trackers[("shop", "orders")]
    mounting = statefulset(replicas=1, ready=1)
    mounting["spec"]["template"] = statefulset_mounting("data", "restore")["spec"]["template"]
    tracker.statefulset = dict(mounting)
    asyncio.run(write_readiness(runtime, tracker, body))
    assert (kube.status()["phase"], kube.status()["ready"]) == ("PartiallyReady", False)
    mounting["spec"]["template"] = statefulset_mounting("data")["spec"]["template"]
    tracker.statefulset = dict(mounting)
    asyncio.run(write_readiness(runtime, tracker, body))
    assert (kube.status()["phase"], kube.status()["ready"]) == ("Ready", True)

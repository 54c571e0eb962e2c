"""Backups on the local cluster: the CronJob, lastBackup and BackupFailed from backup Jobs (whose pods kwok
completes or fails), DatabaseBackup objects, and a Database restored from one."""

import copy
import json
import uuid
from typing import Any

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.databases import (
    BACKUP,
    backup_phase,
    condition,
    database,
    database_backup,
    event_reasons,
    first_template,
    mounts,
    wait_ready,
    wait_statefulset,
)


def job_from_cron_job(kubectl: Kubectl, namespace: str, name: str, fail: bool = False) -> str:
    """A Job made from the Database's CronJob template, as the schedule would run it (kwok completes its pod
    after a second, or fails it when annotated)."""
    cron_job = kubectl.get("cronjob", f"{name}-backup", namespace)
    assert cron_job is not None
    template = copy.deepcopy(cron_job["spec"]["jobTemplate"])
    template["spec"]["backoffLimit"] = 0
    if fail:
        template["spec"]["template"]["metadata"].setdefault("annotations", {})["dbop.test/pod-fail"] = "true"
    job_name = f"{name}-backup-{uuid.uuid4().hex[:6]}"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name, "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    kubectl.apply(job)
    return job_name


def database_status(kubectl: Kubectl, name: str, namespace: str) -> dict[str, Any]:
    db = kubectl.get("database", name, namespace) or {}
    status: dict[str, Any] = db.get("status") or {}
    return status


def test_backup_jobs_set_last_backup_and_a_failure_sets_and_clears_backup_failed(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(database("nightly", namespace, backup={**BACKUP, "storageSize": "2Gi"}))
    wait_ready(kubectl, "nightly", namespace)
    cron_job = kubectl.get("cronjob", "nightly-backup", namespace)
    assert cron_job is not None
    assert (cron_job["spec"]["schedule"], cron_job["spec"]["concurrencyPolicy"]) == ("0 3 * * *", "Forbid")
    assert cron_job["spec"]["startingDeadlineSeconds"] > 0 and cron_job["spec"]["jobTemplate"]["spec"]["backoffLimit"]
    volume = kubectl.get("persistentvolumeclaim", "nightly-backup", namespace)
    assert volume is not None and volume["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert database_status(kubectl, "nightly", namespace).get("lastBackup") is None  # nothing ran: no time

    first = job_from_cron_job(kubectl, namespace, "nightly")

    def completed(job: str) -> str | None:
        found = kubectl.get("job", job, namespace) or {}
        return (found.get("status") or {}).get("completionTime")

    finished = wait_for(f"Job {first} to complete", lambda: completed(first))
    wait_for("lastBackup", lambda: database_status(kubectl, "nightly", namespace).get("lastBackup") == finished)

    failing = job_from_cron_job(kubectl, namespace, "nightly", fail=True)

    def backup_failed() -> dict[str, Any] | None:
        conditions = database_status(kubectl, "nightly", namespace).get("conditions", [])
        return next((c for c in conditions if c["type"] == "BackupFailed" and c["status"] == "True"), None)

    failed = wait_for("the BackupFailed condition", backup_failed)
    assert failing in failed["message"] and failed["reason"] == "BackoffLimitExceeded"
    assert "BackupFailed" in event_reasons(kubectl, "nightly", namespace)
    assert database_status(kubectl, "nightly", namespace)["lastBackup"] == finished  # a failure changes no time

    later = job_from_cron_job(kubectl, namespace, "nightly")
    wait_for("BackupFailed to clear", lambda: backup_failed() is None)
    assert database_status(kubectl, "nightly", namespace)["lastBackup"] == completed(later)


def test_a_database_backup_runs_the_backup_now_and_a_new_database_restores_it(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("source", namespace, type="postgresql", version="16", backup=BACKUP))
    wait_ready(kubectl, "source", namespace)
    # A Database that waits for a backup that does not exist yet.
    kubectl.apply(database("later", namespace, type="postgresql", version="16", restore={"backup": "second"}))

    kubectl.apply(database_backup("first", namespace, "source"))
    status = wait_for("DatabaseBackup first to succeed", lambda: backup_phase(kubectl, "first", namespace, "Succeeded"))
    assert status["artifact"] == "/backups/first.dump" and status["volume"] == "source-backup"
    assert not status["inProgress"] and status["startTime"] <= status["completionTime"]
    job = kubectl.get("job", status["job"], namespace)
    assert job is not None and job["metadata"]["ownerReferences"][0]["name"] == "first"
    env = {item["name"]: item.get("value") for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BACKUP_NAME"] == "first" and env["DB_NAME"] == "source"
    wait_for("the Database's lastBackup", lambda: database_status(kubectl, "source", namespace).get("lastBackup"))

    kubectl.apply(database("copy", namespace, type="postgresql", version="16", restore={"backup": "first"}))
    wait_statefulset(kubectl, "copy", namespace)
    pod = wait_for("the StatefulSet's first template", lambda: first_template(kubectl, "copy", namespace))
    [volume] = [v for v in pod["volumes"] if v["name"] == "restore"]
    assert volume["persistentVolumeClaim"] == {"claimName": "source-backup", "readOnly": True}
    [bootstrap] = [c for c in pod["initContainers"] if c["name"] == "bootstrap"]  # loads it before the server
    assert {"name": "RESTORE_FILE", "value": "/restore/first.dump"} in bootstrap["env"]
    [pod_files] = [v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "scripts"]
    config = kubectl.get("configmap", pod_files, namespace)
    assert config is not None and "pg_restore" in config["data"]["restore-postgresql.sh"]
    restored = wait_ready(kubectl, "copy", namespace)
    assert restored["status"]["restoredFrom"] == {
        "backup": "first",
        "volume": "source-backup",
        "artifact": "/backups/first.dump",
    }
    # Loaded once its first primary was ready: then no pod mounts the source's backup volume any more.
    wait_for("copy's pods to stop mounting source-backup", lambda: not mounts(kubectl, "copy", namespace, "restore"))

    waiting = condition(kubectl.get("database", "later", namespace) or {}, "Reconciled")
    assert waiting["reason"] == "WaitingForBackup" and "DatabaseBackup second" in waiting["message"]
    assert kubectl.get("statefulset", "later", namespace) is None
    kubectl.apply(database_backup("second", namespace, "source"))
    wait_statefulset(kubectl, "later", namespace, timeout=120)

    changed = kubectl.apply(
        database("copy", namespace, type="postgresql", version="16", restore={"backup": "second"}), check=False
    )
    assert changed.returncode != 0 and "spec.restore" in changed.stderr


def test_a_backup_of_a_database_without_backups_fails_naming_the_field(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("plain", namespace))
    kubectl.apply(database_backup("nope", namespace, "plain"))
    status = wait_for("DatabaseBackup nope to fail", lambda: backup_phase(kubectl, "nope", namespace, "Failed"))
    assert status["message"].startswith("spec.database: Database plain has no backup storage")
    events = kubectl.run("get", "events", "-n", namespace, "-o", "json").stdout
    assert any(
        event["reason"] == "BackupFailed" and event["involvedObject"]["kind"] == "DatabaseBackup"
        for event in json.loads(events)["items"]
    )

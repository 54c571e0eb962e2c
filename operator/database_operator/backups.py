"""On-demand backups (the DatabaseBackup kind) and restores: Jobs made from the Database's own backup CronJob,
their status from what the Jobs report, and the dump a restored Database loads.

Builders and status functions are pure; Kubernetes IO goes through `kube.py`.
"""

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any, cast

import kopf

from database_api.backup import BACKUP_KIND, BackupPhase, DatabaseBackupStatus
from database_api.crd import GROUP, VERSION
from database_api.names import BACKUP_DIRECTORY, backup_name
from database_api.profiles import Engine
from database_api.spec import SpecError
from database_api.status import RestoredFrom
from database_operator import events
from database_operator.runtime import Runtime
from database_operator.status import finished_backup_job, now
from database_program.statefulset import RESTORE_VOLUME

BACKUP_LABEL = f"{GROUP}/backup"
"""On a Job: the DatabaseBackup it takes."""
DUMP_SUFFIX = {Engine.MYSQL: ".sql.gz", Engine.MARIADB: ".sql.gz", Engine.POSTGRESQL: ".dump"}
_NAME_LIMIT = 63  # Job names end up in the job-name label of their pods


class BackupNotReady(Exception):
    """A restore names a backup that has not succeeded yet: wait for it."""


def job_name(backup: str) -> str:
    name = f"backup-{backup}"
    if len(name) <= _NAME_LIMIT:
        return name
    return f"{name[: _NAME_LIMIT - 7]}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def artifact_path(backup: str, engine: Engine) -> str:
    """Where the backup script writes an on-demand dump (program/database_program/scripts/backup-*.sh)."""
    return f"{BACKUP_DIRECTORY}/{backup}{DUMP_SUFFIX[engine]}"


def on_demand_job(cron_job: Mapping[str, Any], backup: Mapping[str, Any]) -> dict[str, Any]:
    """A Job from the CronJob's template, exactly as the schedule would run it, named after and owned by the
    DatabaseBackup, with the dump named after it (BACKUP_NAME) so retention never prunes it."""
    template = copy.deepcopy(dict(cron_job["spec"]["jobTemplate"]))
    name = backup["metadata"]["name"]
    labels = {**(template.get("metadata") or {}).get("labels", {}), BACKUP_LABEL: name}
    pod = template["spec"]["template"]
    pod.setdefault("metadata", {})["labels"] = {**pod["metadata"].get("labels", {}), BACKUP_LABEL: name}
    for container in pod["spec"]["containers"]:
        container["env"] = [*container.get("env", []), {"name": "BACKUP_NAME", "value": name}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name),
            "namespace": backup["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": BACKUP_KIND,
                    "name": name,
                    "uid": backup["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template["spec"],
    }


def _status(**fields: Any) -> dict[str, Any]:
    return DatabaseBackupStatus(**fields).model_dump(by_alias=True, exclude_none=True, mode="json")


def _reported(messages: list[str]) -> dict[str, Any]:
    """The backup script's result ({"artifact", "size"}) from the termination log of the pod that succeeded."""
    for message in messages:
        try:
            report = json.loads(message)
        except ValueError:
            continue
        if isinstance(report, dict) and "artifact" in report:
            return report
    return {}


def status_from_job(job: Mapping[str, Any], engine: Engine, messages: list[str]) -> dict[str, Any]:
    """The DatabaseBackup status a Job shows: running, succeeded (with the artifact and its size) or failed."""
    labels = job["metadata"].get("labels", {})
    backup, database = labels[BACKUP_LABEL], labels.get("app.kubernetes.io/instance", "")
    started = (job.get("status") or {}).get("startTime") or job["metadata"].get("creationTimestamp")
    common = {"job": job["metadata"]["name"], "start_time": started, "volume": backup_name(database)}
    finished = finished_backup_job(job)
    if finished is None:
        return _status(phase=BackupPhase.RUNNING, in_progress=True, **common)
    if not finished.succeeded:
        message = f"{finished.reason}: {finished.message}".strip(": ")
        return _status(phase=BackupPhase.FAILED, completion_time=finished.finished_at, message=message, **common)
    report = _reported(messages)
    return _status(
        phase=BackupPhase.SUCCEEDED,
        completion_time=finished.finished_at,
        artifact=report.get("artifact") or artifact_path(backup, engine),
        size_bytes=report.get("size"),
        **common,
    )


def _engine_of(job: Mapping[str, Any]) -> Engine:
    return Engine(job["metadata"].get("labels", {}).get("app.kubernetes.io/name", Engine.MYSQL.value))


async def start_backup(rt: Runtime, body: kopf.Body) -> None:
    """Take the backup a new DatabaseBackup asks for: a Job from its Database's backup CronJob."""
    namespace, name = body.metadata.namespace or "default", body.metadata.name or ""
    if body.status.get("job"):
        return  # started before (a resumed handler)
    database = str(body.spec.get("database", ""))

    async def fail(message: str) -> None:
        await rt.kube.patch_backup_status(namespace, name, _status(phase=BackupPhase.FAILED, message=message))
        events.warning(body, "BackupFailed", message)

    stored = await rt.kube.read_database(namespace, database)
    if stored is None:
        await fail(f"spec.database: Database {database} not found in namespace {namespace}")
        return
    if not (stored.get("spec", {}).get("backup") or {}).get("enabled"):
        await fail(f"spec.database: Database {database} has no backup storage (set spec.backup.enabled: true on it)")
        return
    cron_job = await rt.kube.read_cron_job(namespace, backup_name(database))
    if cron_job is None:
        message = f"waiting for Database {database}'s backup CronJob to exist"
        await rt.kube.patch_backup_status(namespace, name, _status(phase=BackupPhase.PENDING, message=message))
        raise kopf.TemporaryError(message, delay=10)
    job = on_demand_job(cron_job, body)
    await rt.kube.create_job(namespace, job)
    running = _status(
        phase=BackupPhase.RUNNING,
        in_progress=True,
        job=job["metadata"]["name"],
        start_time=now(),
        volume=backup_name(database),
    )
    await rt.kube.patch_backup_status(namespace, name, running)
    events.normal(body, "BackupStarted", f"Job {job['metadata']['name']} backs up Database {database}")


async def observe_on_demand_job(rt: Runtime, job: kopf.Body) -> None:
    """A DatabaseBackup's Job changed: report it in the DatabaseBackup's status, and a failure as an Event."""
    namespace = job.metadata.namespace or "default"
    owner = next((ref for ref in job.metadata.get("ownerReferences") or [] if ref.get("kind") == BACKUP_KIND), None)
    if owner is None:
        return
    done = finished_backup_job(job)
    messages = await rt.kube.termination_messages(namespace, job.metadata.name or "") if done else []
    status = status_from_job(job, _engine_of(job), messages)
    await rt.kube.patch_backup_status(namespace, owner["name"], status)
    if status["phase"] == BackupPhase.FAILED.value:
        metadata = {"name": owner["name"], "namespace": namespace, "uid": owner["uid"]}
        backup = {"apiVersion": owner["apiVersion"], "kind": BACKUP_KIND, "metadata": metadata}
        events.warning(
            kopf.Body(cast(kopf.RawBody, backup)), "BackupFailed", status["message"] or "the backup Job failed"
        )


async def resolve_restore(
    rt: Runtime, namespace: str, spec: Mapping[str, Any], recorded: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The dump a Database loads on first start (status.restoredFrom), resolved once from spec.restore.
    Raises BackupNotReady while the backup runs or does not exist yet, SpecError when it failed."""
    wanted = (spec.get("restore") or {}).get("backup")
    if not wanted:
        return None
    if recorded and recorded.get("backup") == wanted:
        return dict(recorded)
    backup = await rt.kube.read_database_backup(namespace, wanted)
    if backup is None:
        raise BackupNotReady(f"DatabaseBackup {wanted} not found in namespace {namespace}")
    status = backup.get("status") or {}
    phase = status.get("phase", BackupPhase.PENDING.value)
    if phase == BackupPhase.FAILED.value:
        raise SpecError([f"spec.restore.backup: DatabaseBackup {wanted} failed: {status.get('message', '')}"])
    if phase != BackupPhase.SUCCEEDED.value:
        raise BackupNotReady(f"DatabaseBackup {wanted} is {phase}")
    return RestoredFrom(backup=wanted, volume=status["volume"], artifact=status["artifact"]).model_dump(by_alias=True)


def dump_to_load(restored_from: Mapping[str, Any] | None, status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The dump the pods still mount: only until the Database's first primary has been ready (status.currentPrimary).
    Its bootstrap loads and verifies the dump before the server may start, and no pod initialises an empty volume
    after that (a replica copies the primary). Then the pods stop mounting the source's backup volume, which may go
    with its own Database, and the restored Database never depends on it again."""
    return restored_from if restored_from and "currentPrimary" not in status else None


def mounts_restore(status: Mapping[str, Any], statefulset: Mapping[str, Any] | None) -> bool:
    """A restored Database's pod template still mounts the source's backup volume (its dump, for the bootstrap)."""
    if statefulset is None or not status.get("restoredFrom"):
        return False
    volumes = ((statefulset.get("spec") or {}).get("template") or {}).get("spec", {}).get("volumes") or []
    return any(volume.get("name") == RESTORE_VOLUME for volume in volumes)


def restore_mount_left(status: Mapping[str, Any], statefulset: Mapping[str, Any] | None) -> bool:
    """The dump is loaded but the pod template still mounts it: an `up` drops it (dump_to_load)."""
    return mounts_restore(status, statefulset) and dump_to_load(status["restoredFrom"], status) is None

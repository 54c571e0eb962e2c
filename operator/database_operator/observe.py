"""What the watches see: live StatefulSets (readiness), owned objects (drift), backup Jobs (lastBackup).

Watch handlers only record and poke; each Database's watcher daemon does the writing, so status writes for
one Database never race each other.
"""

import asyncio
import contextlib
import time

import kopf

from database_operator import events
from database_operator.drift import check_drift
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.status import BackupJob, backup_status, finished_backup_job, readiness, readiness_status

INSTANCE_LABEL = "app.kubernetes.io/instance"


def _tracker_for(rt: Runtime, body: kopf.Body) -> DatabaseTracker | None:
    instance = body.metadata.labels.get(INSTANCE_LABEL)
    return rt.trackers.get((body.metadata.namespace or "default", instance)) if instance else None


def observe_owned_object(rt: Runtime, event_type: str | None, body: kopf.Body) -> None:
    """A change to an object a stack owns. Outside our own operations, a deletion or a spec change is drift.
    Status-only updates (which leave metadata.generation alone) are not."""
    tracker = _tracker_for(rt, body)
    if tracker is None:
        return
    key = f"{body.get('kind')}/{body.metadata.name}"
    generation = body.metadata.get("generation")
    seen = tracker.generations.get(key)
    tracker.generations[key] = generation
    if body.get("kind") == "StatefulSet":
        tracker.statefulset = None if event_type == "DELETED" else dict(body)
        tracker.observe_readiness()
    if event_type is None or tracker.in_own_change_window():
        return  # the initial listing, or our own change arriving
    spec_changed = generation is None or (seen is not None and generation != seen)
    if event_type == "DELETED" or (event_type == "MODIFIED" and spec_changed):
        tracker.suspect_drift()


def observe_backup_job(rt: Runtime, body: kopf.Body) -> None:
    tracker = _tracker_for(rt, body)
    finished = finished_backup_job(body)
    if tracker is None or finished is None or tracker.backup_jobs.get(finished.name) == finished:
        return
    tracker.backup_jobs[finished.name] = finished
    tracker.backups_changed = True
    tracker.poke.set()


async def write_readiness(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    live = readiness(tracker.statefulset)
    conditions = tracker.status.get("conditions", [])
    await rt.write_status(tracker, readiness_status(conditions, live, body.metadata.get("generation")))


async def write_backup_status(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    jobs: list[BackupJob] = list(tracker.backup_jobs.values())
    generation = body.metadata.get("generation")
    changes = backup_status(tracker.status.get("conditions", []), jobs, tracker.status.get("lastBackup"), generation)
    for job in jobs:
        if not job.succeeded and job.name not in tracker.reported_failures:
            tracker.reported_failures.add(job.name)
            events.warning(body, "BackupFailed", f"Job {job.name}: {job.reason} {job.message}".strip())
    await rt.write_status(tracker, changes)


async def watch_database(rt: Runtime, body: kopf.Body, stopped: kopf.DaemonStopped) -> None:
    """Per-Database loop: write readiness and backup status as watches report them; check drift when a watch
    suspects it (after a short debounce) and every drift interval to catch what watches miss."""
    tracker = rt.tracker(body.metadata.namespace or "default", body.metadata.name or "", dict(body.status))
    interval = rt.settings.drift_interval_seconds
    next_check = time.monotonic() + interval
    while not stopped:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.poke.wait(), timeout=max(0.0, next_check - time.monotonic()))
        tracker.poke.clear()
        if tracker.readiness_changed:
            tracker.readiness_changed = False
            await write_readiness(rt, tracker, body)
        if tracker.backups_changed:
            tracker.backups_changed = False
            await write_backup_status(rt, tracker, body)
        due = time.monotonic() >= next_check
        deployed = tracker.applied_generation == body.metadata.get("generation")
        if (tracker.drift_suspected or due) and deployed and not body.metadata.get("deletionTimestamp"):
            if tracker.drift_suspected:
                await asyncio.sleep(rt.settings.drift_debounce_seconds)
            tracker.drift_suspected = False
            await check_drift(rt, tracker, body)
            next_check = time.monotonic() + interval

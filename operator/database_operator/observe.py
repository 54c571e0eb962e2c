"""What the watches see: live StatefulSets (readiness), database pods (roles, instances), owned objects
(drift), backup Jobs (lastBackup).

Watch handlers only record and poke (and label pods); each Database's watcher daemon writes what they saw,
besides the operations' own status writes, which Runtime.write_status keeps in order. The daemon reads the
trackers' collections as copies: the watch handlers change them while it awaits.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf

from database_api.names import PRIMARY_ROLE
from database_api.profiles import Engine
from database_operator import events
from database_operator.apply import apply_again
from database_operator.backups import mounts_restore, restore_mount_left
from database_operator.certificate_renewal import renewal_due
from database_operator.drift import check_drift
from database_operator.failover import ensure_role, reconcile_primary
from database_operator.instances import instances, missing_configuration, pod_ready, replication_lag
from database_operator.pod_files import prune_pod_files
from database_operator.primary import current_primary, role
from database_operator.roll import roll_pods
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.stack_names import stack_name
from database_operator.status import BackupJob, backup_status, finished_backup_job, readiness, readiness_status
from database_operator.unwedge import unwedge_rollout

INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
# pulumi-kubernetes writes with server-side apply under field managers named pulumi-kubernetes-<id>.
PULUMI_FIELD_MANAGER = "pulumi-kubernetes"

logger = logging.getLogger(__name__)


def _tracker_for(rt: Runtime, body: kopf.Body) -> DatabaseTracker | None:
    instance = body.metadata.labels.get(INSTANCE_LABEL)
    return rt.observed(body.metadata.namespace or "default", instance) if instance else None


def written_by_someone_else(body: kopf.Body) -> bool:
    """Whether anyone but Pulumi wrote the object's spec/data since Pulumi last applied it. Status writes by
    controllers do not count; writes through the scale subresource do (and carry no time, so count as newest)."""
    writes = [e for e in body.metadata.get("managedFields") or [] if e.get("subresource") in (None, "", "scale")]
    ours = [e.get("time") or "" for e in writes if str(e.get("manager", "")).startswith(PULUMI_FIELD_MANAGER)]
    last_ours = max(ours, default="")
    return any(
        not str(e.get("manager", "")).startswith(PULUMI_FIELD_MANAGER) and (not e.get("time") or e["time"] >= last_ours)
        for e in writes
    )


def observe_owned_object(rt: Runtime, event_type: str | None, body: kopf.Body) -> None:
    """A change to an object a stack owns. A deletion outside our own operations, or a write by anyone but
    Pulumi (kubectl edit/scale/patch, another controller), is drift."""
    tracker = _tracker_for(rt, body)
    if tracker is None:
        return
    if body.get("kind") == "StatefulSet":
        tracker.statefulset = None if event_type == "DELETED" else dict(body)
        tracker.observe_readiness()
    if event_type is None or tracker.operation.locked():
        return  # the initial listing, or an object our own operation is changing
    if event_type == "DELETED" and body.get("kind") == "ConfigMap" and body.metadata.name in tracker.pruned_config_maps:
        tracker.pruned_config_maps.discard(body.metadata.name or "")
        return  # an old pod files ConfigMap the operator pruned (pod_files.py)
    if event_type == "DELETED" or written_by_someone_else(body):
        tracker.suspect_drift()


async def observe_database_pod(rt: Runtime, event_type: str | None, body: kopf.Body) -> None:
    """A database pod changed: label it with the role the Database's status gives it (the Services select by it,
    the pod reads it), and record it for the status and the failover checks. Only once the Database's own tracker
    holds its status: a placeholder's empty status would make pod 0 primary again after a failover."""
    tracker = _tracker_for(rt, body)
    if tracker is None:
        return
    name = body.metadata.name or ""
    if event_type == "DELETED":
        tracker.pods.pop(name, None)
    else:
        pod = {"metadata": dict(body.metadata), "status": dict(body.status)}
        tracker.pods[name] = pod
        _suspect_a_missing_object(tracker, name, pod)
        if rt.trackers.get((tracker.namespace, tracker.name)) is tracker:
            await ensure_role(rt, tracker, name, pod)  # meanwhile the pod's deletion may have been seen
    tracker.observe_instances()


def _suspect_a_missing_object(tracker: DatabaseTracker, name: str, pod: dict[str, Any]) -> None:
    """A pod that cannot start because a Secret or ConfigMap it reads is gone: drift, checked at once. The
    operator never lists Secrets (least privilege), so a deleted Secret shows here, when a pod needs it, or else
    at the full refresh (precheck.py); Pulumi then makes it again from the stack's settings, byte for byte."""
    missing = missing_configuration(pod)
    if missing is not None and not tracker.operation.locked() and not tracker.drift_suspected:
        logger.info("%s/%s: pod %s cannot start (%s): drift check", tracker.namespace, tracker.name, name, missing)
        tracker.suspect_drift()


def _exporter_port(rt: Runtime, body: kopf.Body) -> int | None:
    """The metrics exporter's port when the Database runs one."""
    spec = body.get("spec") or {}
    monitoring = spec.get("monitoring") or {}
    if not (monitoring.get("enabled") and monitoring.get("metrics")):
        return None
    return rt.stacks_config.engine(Engine(spec["type"])).exporter.port


async def write_instances(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    """Each pod's role and readiness; a ready replica's lag as its metrics exporter reports it, if it runs one."""
    port = _exporter_port(rt, body)
    lags: dict[str, float] = {}
    # A copy: pod events change tracker.pods while this awaits the metrics (a rollout, a scale).
    pods = dict(tracker.pods)
    primary = current_primary(tracker.name, tracker.status)
    for name, pod in pods.items():
        address = pod["status"].get("podIP")
        if port is not None and address and role(name, primary) != PRIMARY_ROLE and pod_ready(pod):
            metrics = await rt.kube.pod_metrics(tracker.namespace, name, address, port)
            lag = replication_lag(metrics) if metrics is not None else None
            if lag is not None:
                lags[name] = lag
    await rt.write_status(tracker, {"instances": instances(pods, lags, primary)})


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
    if live is not None and mounts_restore(tracker.status, tracker.statefulset):
        live = replace(live, current=False)  # not Ready yet: its pods restart once more, to drop the dump's mount
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


async def unmount_loaded_restore(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, due: bool) -> None:
    """A restored Database whose dump is loaded (its first primary was ready) is applied again without the source's
    backup volume: once per StatefulSet version, or again at the next interval if that `up` failed."""
    if not restore_mount_left(tracker.status, tracker.statefulset):
        return
    version = (tracker.statefulset or {}).get("metadata", {}).get("resourceVersion")
    if due or version != tracker.unmount_tried_on:
        tracker.unmount_tried_on = version
        await apply_again(rt, body)


async def watch_database(rt: Runtime, body: kopf.Body, stopped: kopf.DaemonStopped) -> None:
    """Per-Database loop: write readiness and backup status as watches report them, the instances' lag every
    drift interval; check drift when a watch or the pre-check (precheck.py) suspects it, after a short debounce."""
    tracker = rt.tracker(body.metadata.namespace or "default", body.metadata.name or "", dict(body.status))
    interval = rt.settings.drift_interval_seconds
    next_poll = time.monotonic() + interval
    failover_due: float | None = None
    unwedge_due: float | None = None
    while not stopped:
        wake = min(t for t in (next_poll, failover_due, unwedge_due) if t is not None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.poke.wait(), timeout=max(0.0, wake - time.monotonic()))
        tracker.poke.clear()
        if not body.metadata.get("deletionTimestamp"):
            failover_wait = await reconcile_primary(rt, tracker, body)
            failover_due = None if failover_wait is None else time.monotonic() + failover_wait
            unwedge_wait = await unwedge_rollout(rt, tracker, body)
            unwedge_due = None if unwedge_wait is None else time.monotonic() + unwedge_wait
            if failover_wait is None:  # no failover pending: the roll's next step (roll.py), if any
                await roll_pods(rt, tracker, body)
        due = time.monotonic() >= next_poll
        if due:
            next_poll = time.monotonic() + interval
        statefulset_changed = tracker.readiness_changed
        if tracker.readiness_changed:
            tracker.readiness_changed = False
            await write_readiness(rt, tracker, body)
        if tracker.instances_changed or (due and _exporter_port(rt, body) is not None):
            tracker.instances_changed = False
            await write_instances(rt, tracker, body)
        if tracker.backups_changed:
            tracker.backups_changed = False
            await write_backup_status(rt, tracker, body)
        deployed = tracker.applied_generation == body.metadata.get("generation")
        if not deployed or body.metadata.get("deletionTimestamp"):
            continue
        if statefulset_changed or due:  # a rollout's end shows on the StatefulSet
            await prune_pod_files(rt, tracker, body.metadata.get("generation"))
        await unmount_loaded_restore(rt, tracker, body, due)
        # The server certificate's age is the one thing no object change shows: looked at every interval.
        settings = rt.stacks.stack_settings_file(stack_name(tracker.namespace, tracker.name))
        if due and renewal_due(settings, datetime.now(UTC)):
            await apply_again(rt, body)
        if tracker.drift_suspected:
            await asyncio.sleep(rt.settings.drift_debounce_seconds)
            tracker.drift_suspected = False
            await check_drift(rt, tracker, body)

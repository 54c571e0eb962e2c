"""The drift pre-check: which Databases need a drift check (`preview --refresh`, about 1.7 CPU-seconds), decided
without Pulumi.

After each successful operation a Database's owned objects are recorded: for each, a version that changes when
anyone writes its spec, data, labels or annotations. Every drift interval, one LIST per kind (metadata only,
label-selected by the API server; per namespace with Databases in namespaced mode) is compared with every
record. Only a Database whose objects changed, appeared or disappeared, whose record is missing (never taken,
lost with the state directory, dropped after a failed or reporting check), or whose last drift check is older
than the full-refresh interval gets a drift check. Pulumi alone computes and corrects drift; watches still
trigger checks at once (observe.py).

What versions cannot show is left to the full refresh: Secrets (never listed: the operator reads them one by
one; a deleted one a pod needs shows sooner, when the pod cannot start: observe.py), anything outside the listed
kinds, and changes made between a check's refresh and its record.
"""

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from database_operator.atomic_file import write_atomically
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.stack_names import stack_name
from database_operator.watches import MANAGED, label_selector

logger = logging.getLogger(__name__)

INSTANCE_LABEL = "app.kubernetes.io/instance"
# What the Pulumi program declares, but Secrets (see above). (api version, plural, kind)
LISTED_KINDS = [
    ("apps/v1", "statefulsets", "StatefulSet"),
    ("v1", "services", "Service"),
    ("v1", "configmaps", "ConfigMap"),
    ("batch/v1", "cronjobs", "CronJob"),
    ("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
]
SERVICE_MONITORS = ("monitoring.coreos.com/v1", "servicemonitors", "ServiceMonitor")


def object_version(metadata: Mapping[str, Any]) -> str:
    """What changes when someone writes the object, but not when a controller writes its status. The
    resourceVersion changes with every write; objects with a generation (StatefulSet, CronJob, PDB, ...) have a
    status their controllers keep rewriting, so their generation (spec) plus their labels and annotations."""
    generation = metadata.get("generation")
    if generation is None:
        return f"rv:{metadata.get('resourceVersion')}"
    labelled = json.dumps([metadata.get("labels") or {}, metadata.get("annotations") or {}], sort_keys=True)
    return f"gen:{generation}:{hashlib.sha256(labelled.encode()).hexdigest()[:16]}"


def versions_by_database(listed: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[tuple[str, str], dict[str, str]]:
    """(kind, metadata) pairs as each Database's objects: (namespace, name) -> {"Kind/name": version}."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for kind, metadata in listed:
        instance = (metadata.get("labels") or {}).get(INSTANCE_LABEL)
        if instance:
            objects = found.setdefault((metadata.get("namespace") or "default", instance), {})
            objects[f"{kind}/{metadata.get('name')}"] = object_version(metadata)
    return found


@dataclass(frozen=True)
class Record:
    """What the last successful operation left, and when Pulumi last compared the live objects (epoch)."""

    objects: dict[str, str]
    checked_at: float


class Verdict(StrEnum):
    UNCHANGED = "unchanged"
    CHANGED = "objects changed"
    DISAPPEARED = "objects disappeared"
    NO_RECORD = "no record of the last operation"
    FULL_REFRESH_DUE = "full refresh due"


def verdict(record: Record | None, live: Mapping[str, str], now: float, full_refresh_seconds: float) -> Verdict:
    """Whether the live objects are still those the last operation left. A missing or empty record never means
    in sync."""
    if record is None or not record.objects:
        return Verdict.NO_RECORD
    if now - record.checked_at >= full_refresh_seconds:
        return Verdict.FULL_REFRESH_DUE
    if any(name not in live for name in record.objects):
        return Verdict.DISAPPEARED
    return Verdict.UNCHANGED if dict(live) == record.objects else Verdict.CHANGED


def _record_path(rt: Runtime, tracker: DatabaseTracker) -> Path:
    """Beside the stack's settings file, in its workspace: the record lives and is lost with the stack's other
    local state."""
    stack = stack_name(tracker.namespace, tracker.name)
    return rt.stacks.stack_settings_file(stack).with_name(f"owned-objects.{stack}.json")


def load_record(rt: Runtime, tracker: DatabaseTracker) -> Record | None:
    try:
        saved = json.loads(_record_path(rt, tracker).read_text())
        return Record(objects=dict(saved["objects"]), checked_at=float(saved["checkedAt"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def drop_from_record(rt: Runtime, tracker: DatabaseTracker, kind: str, names: Iterable[str]) -> None:
    """Objects the operator deleted itself (old pod files ConfigMaps: pod_files.py) leave the record: their
    disappearance is not drift."""
    record = load_record(rt, tracker)
    if record is None:
        return
    objects = {key: version for key, version in record.objects.items() if key not in {f"{kind}/{n}" for n in names}}
    write_atomically(_record_path(rt, tracker), json.dumps({"objects": objects, "checkedAt": record.checked_at}), 0o600)


def forget_record(rt: Runtime, tracker: DatabaseTracker) -> None:
    """The next pre-check hands the Database to Pulumi."""
    _record_path(rt, tracker).unlink(missing_ok=True)


def _kinds(rt: Runtime) -> list[tuple[str, str, str]]:
    return LISTED_KINDS + ([SERVICE_MONITORS] if rt.service_monitor_available else [])


async def _listed(rt: Runtime, namespace: str | None, labels: dict[str, str]) -> list[tuple[str, Mapping[str, Any]]]:
    listed: list[tuple[str, Mapping[str, Any]]] = []
    for api_version, plural, kind in _kinds(rt):
        items = await rt.kube.list_metadata(api_version, plural, namespace, label_selector(labels))
        listed += [(kind, metadata) for metadata in items]
    return listed


async def record_owned_objects(rt: Runtime, tracker: DatabaseTracker, drift_checked: bool) -> None:
    """After a successful operation: its objects as they are now. An `up` does not compare the live objects
    (drift_checked False), so it keeps the time of the last drift check. Without a record (a failed LIST), the
    next pre-check hands the Database to Pulumi."""
    try:
        listed = await _listed(rt, tracker.namespace, {**MANAGED, INSTANCE_LABEL: tracker.name})
        previous = load_record(rt, tracker)
        now = time.time()
        checked_at = now if drift_checked or previous is None else previous.checked_at
        objects = versions_by_database(listed).get((tracker.namespace, tracker.name), {})
        record = json.dumps({"objects": objects, "checkedAt": checked_at})
        # In a thread: its fsync can take long on a busy disk, and would stop every handler and webhook meanwhile.
        await asyncio.to_thread(write_atomically, _record_path(rt, tracker), record, 0o600)
    except Exception as error:  # whatever failed, the Database is checked by Pulumi next time
        logger.warning(
            "%s/%s: no record of its objects (%s): Pulumi checks it next", tracker.namespace, tracker.name, error
        )
        forget_record(rt, tracker)


async def precheck(rt: Runtime) -> list[DatabaseTracker]:
    """One pre-check of every deployed Database; the ones that need a drift check are poked for it and
    returned. A Database with an operation running is left to it (the operation records when it ends), one
    with a check pending to that check."""
    trackers = [
        tracker
        for tracker in list(rt.trackers.values())
        if tracker.applied_generation is not None and not tracker.operation.locked() and not tracker.drift_suspected
    ]
    if not trackers:
        return []
    served = sorted({t.namespace for t in trackers})
    namespaces: list[str | None] = list(served) if rt.settings.namespaces else [None]
    listed: list[tuple[str, Mapping[str, Any]]] = []
    for namespace in namespaces:
        listed += await _listed(rt, namespace, MANAGED)
    live = versions_by_database(listed)
    now, due = time.time(), []
    for tracker in trackers:
        found = verdict(load_record(rt, tracker), live.get((tracker.namespace, tracker.name), {}), now,
                        rt.settings.full_refresh_interval_seconds)  # fmt: skip
        if found is not Verdict.UNCHANGED:
            logger.info("%s/%s: drift check: %s", tracker.namespace, tracker.name, found)
            tracker.suspect_drift()
            due.append(tracker)
    logger.info("drift pre-check: %d of %d Databases handed to Pulumi", len(due), len(trackers))
    return due


async def precheck_forever(rt: Runtime) -> None:
    """Every drift interval. A pre-check that fails (the API server unreachable) hands every Database to Pulumi,
    as before there was a pre-check: never assumed in sync."""
    while True:
        await asyncio.sleep(rt.settings.drift_interval_seconds)
        try:
            await precheck(rt)
        except Exception as error:  # the loop must outlive any one failure
            logger.warning("drift pre-check failed (%s): every Database gets a drift check", error)
            for tracker in list(rt.trackers.values()):
                tracker.suspect_drift()

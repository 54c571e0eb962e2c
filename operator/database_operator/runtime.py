"""What the operator holds in memory while it runs: its services and one tracker per Database."""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from database_api.profiles import StacksConfig
from database_operator.kube import Kube
from database_operator.settings import OperatorSettings
from database_operator.slots import OperationSlots
from database_operator.stacks import Stacks
from database_operator.status import BackupJob

T = TypeVar("T")
logger = logging.getLogger(__name__)


def _log_abandoned(operation: "asyncio.Task[Any]") -> None:
    """The outcome of an operation whose caller stopped waiting: logged, so none goes unnoticed or unretrieved."""
    if not operation.cancelled() and operation.exception() is not None:
        logger.warning("an operation nobody waited for any more failed: %s", operation.exception())


@dataclass
class DatabaseTracker:
    """One Database: its operation lock, the status as last written, and what the watches saw."""

    namespace: str
    name: str
    status: dict[str, Any] = field(default_factory=dict)
    """The status as this process means it to be (last read, plus every write made since, landed or not):
    every computation of a status change starts from here."""
    written: dict[str, Any] = field(default_factory=dict)
    """The status as the API server has confirmed it: what a patch is computed against."""
    statefulset: dict[str, Any] | None = None
    """The live StatefulSet as last seen by the watch (None: not seen or deleted)."""
    backup_jobs: dict[str, BackupJob] = field(default_factory=dict)
    """Finished backup Jobs by name."""
    reported_failures: set[str] = field(default_factory=set)
    backups_changed: bool = False
    applied_generation: int | None = None
    """The Database generation the last successful `up` deployed; drift checks wait for one."""
    operation: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held for the whole of a stack operation: one Database never has two at once."""
    status_writes: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while a status patch is in flight: patches reach the API server in the order they were made."""
    poke: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when something changed that the Database's watcher daemon should look at."""
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The Database's pods by name, as last seen by the watch."""
    drift_suspected: bool = False
    readiness_changed: bool = False
    instances_changed: bool = False
    primary_down_since: float | None = None
    """When (monotonic) the primary was first seen not ready: a failover is due failover_after_seconds later."""
    failover_refused: bool = False
    """A failover found no replica to promote and said so (once, until one is promoted)."""
    unmount_tried_on: str | None = None
    """The StatefulSet's resourceVersion when an `up` last dropped the restore mount (backups.restore_mount_left):
    not tried again on the same StatefulSet but at the next interval, so a failing `up` does not repeat at once."""
    followed: dict[str, float] = field(default_factory=dict)
    """When (monotonic) each replica that did not replicate was last told to follow the primary."""
    pruned_config_maps: set[str] = field(default_factory=set)
    """Old pod files ConfigMaps the operator deleted (pod_files.py): their deletion is not drift."""
    replaced_pods: set[str] = field(default_factory=set)
    """The uids of stuck pods the operator deleted (unwedge.py) that the watch may still show as they were: not
    deleted, nor reported, twice."""

    def applied(self, generation: int | None) -> None:
        """The spec of `generation` is deployed: the watcher looks again at what waited for that (the pods' old
        files, a restored Database's backup mount); the end of the operation alone woke it a moment too early."""
        self.applied_generation = generation
        self.poke.set()

    def suspect_drift(self) -> None:
        self.drift_suspected = True
        self.poke.set()

    def observe_readiness(self) -> None:
        self.readiness_changed = True
        self.poke.set()

    def observe_instances(self) -> None:
        self.instances_changed = True
        self.poke.set()


@dataclass
class Runtime:
    settings: OperatorSettings
    stacks_config: StacksConfig
    stacks: Stacks
    kube: Kube
    service_monitor_available: bool = False
    trackers: dict[tuple[str, str], DatabaseTracker] = field(default_factory=dict)
    unclaimed: dict[tuple[str, str], DatabaseTracker] = field(default_factory=dict)
    """What the watches saw of Databases before their first handler ran (the initial listing after a start):
    handed to the Database's tracker when it is made, so no StatefulSet or finished Job is missed."""
    executor: ThreadPoolExecutor = field(init=False)
    operations: OperationSlots = field(init=False)

    def __post_init__(self) -> None:
        limit = self.settings.max_concurrent_operations
        self.executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="stack-operation")
        self.operations = OperationSlots(limit)

    def tracker(self, namespace: str, name: str, status: dict[str, Any] | None = None) -> DatabaseTracker:
        key = (namespace, name)
        if key not in self.trackers:
            seen = self.unclaimed.pop(key, None)
            tracker = DatabaseTracker(namespace, name, status=dict(status or {}), written=dict(status or {}))
            if seen is not None:
                tracker.statefulset, tracker.backup_jobs, tracker.pods = seen.statefulset, seen.backup_jobs, seen.pods
                tracker.backups_changed, tracker.instances_changed = bool(seen.backup_jobs), bool(seen.pods)
            self.trackers[key] = tracker
        return self.trackers[key]

    def observed(self, namespace: str, name: str) -> DatabaseTracker:
        """The tracker watches record into: the Database's, or a placeholder until its first handler runs."""
        key = (namespace, name)
        if key in self.trackers:
            return self.trackers[key]
        return self.unclaimed.setdefault(key, DatabaseTracker(namespace, name))

    def forget(self, namespace: str, name: str) -> None:
        self.trackers.pop((namespace, name), None)
        self.unclaimed.pop((namespace, name), None)

    async def run_operation(self, tracker: DatabaseTracker, operation: Callable[[], T], background: bool = False) -> T:
        """Run a blocking stack operation in a worker thread: one per Database, a bounded number in all; a
        background one (a drift check) only while no other waits.

        The Database's lock and the slot are held until the worker thread has returned, that is until its Pulumi
        process has ended, even when the caller is cancelled meanwhile (a daemon stopped on deletion): a
        cancelled caller stops waiting, never the operation. One that has not started yet is dropped."""
        started = asyncio.Event()
        holder = asyncio.create_task(self._hold_for(tracker, operation, background, started))
        try:
            return await asyncio.shield(holder)
        except asyncio.CancelledError:
            if not started.is_set():
                holder.cancel()  # still waiting for the lock or a slot: nothing runs
            holder.add_done_callback(_log_abandoned)
            raise

    async def _hold_for(
        self, tracker: DatabaseTracker, operation: Callable[[], T], background: bool, started: asyncio.Event
    ) -> T:
        try:
            async with tracker.operation, self.operations.slot(background):
                started.set()
                running = asyncio.get_running_loop().run_in_executor(self.executor, operation)
                # Only the caller's task is ever cancelled, never this one once started (see run_operation); the
                # loop guards against a cancellation from outside all the same (e.g. loop shutdown).
                while True:
                    try:
                        return await asyncio.shield(running)
                    except asyncio.CancelledError:
                        if running.done():
                            raise
        finally:
            tracker.poke.set()  # the watcher looks again once the lock is free: a roll waits for it (roll.py)

    async def write_status(self, tracker: DatabaseTracker, changes: dict[str, Any]) -> None:
        """Patch what differs from what the API server has confirmed. The changes count at once for what this
        process computes next (a watch's readiness must not be computed from conditions an operation is just
        writing), but only a landed patch counts as written: after a failed one, the same changes are patched
        again. Patches are sent one at a time, in the order they were made (two in flight could land out of
        order and leave a stale list, e.g. of conditions, stored for good)."""
        tracker.status.update(changes)
        async with tracker.status_writes:
            patch = {key: value for key, value in changes.items() if tracker.written.get(key) != value}
            if not patch:
                return
            await self.kube.patch_database_status(tracker.namespace, tracker.name, patch)
            tracker.written.update(patch)

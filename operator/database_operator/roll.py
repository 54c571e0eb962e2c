"""Rolling updates, the operator's way: replicas first, then a switchover, then the old primary.

The StatefulSet's `updateStrategy` is OnDelete (statefulset.py): the StatefulSet controller makes a deleted pod
again at the new revision but never deletes one itself, so a new pod template reaches the pods only as this
module deletes them. The StatefulSet controller's RollingUpdate restarted pods in descending ordinal order,
whichever was the primary: a write outage like a failover (a slow restart even caused one). Here, as
CloudNativePG does it:

1. the out-of-date replicas, highest ordinal first, one at a time, each only once every pod is back and Ready;
2. then, with every replica at the new revision, a switchover (failover.change_primary: fence, catch-up, promote;
   no acknowledged write lost) to an updated replica, which deletes the old primary's pod;
3. that pod comes back at the new revision as a replica.

A Database of one pod just restarts it. Nothing is deleted while any pod is not Ready, being deleted or missing,
so a roll never takes a second pod down (a failover, which deletes the failed primary's pod, goes first: the roll
waits for it). Volumes are never touched. Every decision is made afresh from what the cluster shows (the
StatefulSet's updateRevision, each pod's `controller-revision-hash`, readiness, `status.currentPrimary`), so an
operator restarted mid-roll carries on where the cluster is. Rejected: a `partition` (the controller would still
restart the primary when the partition reaches its ordinal, unless the operator switched over first, which is
this design with one more moving part) and a pod-deletion webhook (it can refuse a deletion but not switch over
first, and an operator that is down would block every eviction).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import kopf

from database_api.profiles import Engine
from database_operator import events
from database_operator.failover import change_primary, delete_pod, promotable
from database_operator.instances import deleting, ordinal, pod_ready, pod_revision, update_revision
from database_operator.primary import current_primary
from database_operator.runtime import DatabaseTracker, Runtime


class Action(StrEnum):
    DONE = "done"  # every pod runs the StatefulSet's latest template (or there is nothing to roll yet)
    WAIT = "wait"  # a pod is down, leaving or missing, or the controller has not seen the template yet
    DELETE = "delete"  # the pod is made again from the latest template
    SWITCH_OVER = "switch-over"  # to an updated replica, which deletes the old primary's pod


@dataclass(frozen=True)
class Step:
    """The roll's next step: the pod it deletes or switches over to, and why (for the Event)."""

    action: Action
    pod: str | None = None
    reason: str = ""


def _blocked(pods: Mapping[str, Mapping[str, Any]], replicas: int) -> str | None:
    """Why no pod may be taken down now: one is not Ready, being deleted or missing (a scale, a failover)."""
    for name in sorted(pods, key=lambda name: ordinal(pods[name])):
        if deleting(pods[name]):
            return f"{name} is being replaced"
        if not pod_ready(pods[name]):
            return f"{name} is not ready"
    return f"{len(pods)} of {replicas} pods exist" if len(pods) != replicas else None


def _take_down(
    pods: Mapping[str, Mapping[str, Any]], outdated: list[str], primary: str, replicas: int, revision: str
) -> Step:
    """With every pod there and Ready: the highest out-of-date replica; once none is left, a switchover away from
    the out-of-date primary (a lone primary is restarted)."""
    replica = next((name for name in outdated if name != primary), None)
    if replica is not None:
        return Step(Action.DELETE, replica, f"replica {replica} is at an older revision than {revision}")
    if replicas == 1:
        return Step(Action.DELETE, primary, f"the only pod, {primary}, is at an older revision than {revision}")
    target = min((name for name in pods if name != primary), key=lambda name: ordinal(pods[name]))
    return Step(Action.SWITCH_OVER, target, f"every replica is at revision {revision}; primary {primary} is not")


def next_step(statefulset: Mapping[str, Any] | None, pods: Mapping[str, Mapping[str, Any]], primary: str) -> Step:
    """The roll's next step, from the live StatefulSet, the Database's pods by name and the primary's name."""
    if statefulset is None:
        return Step(Action.DONE)
    revision = update_revision(statefulset)
    if revision is None:
        return Step(Action.WAIT, reason="the StatefulSet controller has not seen the latest template yet")
    outdated = sorted(
        (name for name, pod in pods.items() if pod_revision(pod) != revision),
        key=lambda name: ordinal(pods[name]),
        reverse=True,
    )
    if not outdated:
        return Step(Action.DONE)
    replicas = int((statefulset.get("spec") or {}).get("replicas", 1))
    blocked = _blocked(pods, replicas)
    if blocked is not None:
        return Step(Action.WAIT, reason=blocked)
    return _take_down(pods, outdated, primary, replicas, revision)


async def roll_pods(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    """Take the roll's next step, if any. Not while a stack operation runs: it may change the template again."""
    if tracker.operation.locked():
        return
    primary = current_primary(tracker.name, tracker.status)
    step = next_step(tracker.statefulset, dict(tracker.pods), primary)
    if step.action is Action.SWITCH_OVER:
        assert step.pod is not None
        engine = Engine((body.get("spec") or {})["type"])
        # The primary is fenced only if a replica can be shown to take over; else it restarts in place, as the
        # StatefulSet controller would have restarted it (its data is its own: nothing is lost, writes pause).
        if await promotable(rt, tracker, engine, step.pod):
            events.normal(body, "RollingUpdate", f"switching over to {step.pod} before updating: {step.reason}")
            # A switchover that fails has said so (Event, condition) and is the failover's business from there:
            # the fenced primary is never restarted here on top of it.
            await change_primary(rt, tracker, body, engine, step.pod)
            return
        events.warning(body, "RollingUpdate", f"no replica could take over from {primary}; restarting it in place")
        step = Step(Action.DELETE, primary, step.reason)
    if step.action is Action.DELETE:
        assert step.pod is not None
        events.normal(body, "RollingUpdate", f"deleting pod {step.pod} (its volume stays): {step.reason}")
        await delete_pod(rt, tracker, step.pod)

"""Which pod is the primary, kept true on the pods: role labels, automatic failover, planned switchover.

The operator decides (primary.py) and the pods act: each step is `ha-<engine>.sh` run in the server container
(pods/exec), as the superuser on the local socket, so no password ever reaches the operator. Each Database's
watcher daemon runs this, so one Database never has two changes of primary at once.

A change of primary, failover or switchover, always goes: fence the old primary (its role label removed, so the
read-write Service drops it at once; its server stopped or made read-only, when it answers), find the replica
that has everything the others have, record it as `status.currentPrimary` (before anything acts on it: an operator
that restarts then carries on with the same one), promote it, label it, delete the old primary's pod (it comes
back as a replica: its bootstrap rejoins it), and point the other replicas at it.
"""

import logging
import time
from typing import Any

import kopf

from database_api.names import MAY_INITIALISE_ANNOTATION, PRIMARY_ROLE, ROLE_LABEL
from database_api.profiles import Engine
from database_operator import events
from database_operator.instances import deleting, pod_ready
from database_operator.kube import ExecResult
from database_operator.primary import (
    Position,
    PositionError,
    choose,
    current_primary,
    fenced_at,
    parse_position,
    role,
)
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.status import set_condition

logger = logging.getLogger(__name__)
SWITCHOVER_ANNOTATION = "database.example.com/switchover-to"
"""On a Database: the replica to make primary, with no acknowledged write lost; removed once handled."""
PRIMARY_CONDITION = "PrimaryAvailable"
STEP_TIMEOUT_SECONDS = 75.0
"""Longest one step in a pod may take: a promotion waits up to 60 s for the replica to apply what it received."""
FENCE_TIMEOUT_SECONDS = 10.0
"""Longest the old primary's fence may take (it may wait for commits in flight): its pod is deleted after anyway."""
PROMOTION_GRACE_SECONDS = 30.0
"""How long a promoted replica may take to show ready (its next probes, its pod seeing its new label) before
another failover may replace it."""
FOLLOW_INTERVAL_SECONDS = 10.0
"""How often a replica that does not replicate is told again to follow the primary."""
SCRIPTS = {Engine.POSTGRESQL: "/scripts/ha-postgresql.sh"}
DEFAULT_SCRIPT = "/scripts/ha-mysql.sh"


async def delete_pod(rt: Runtime, tracker: DatabaseTracker, name: str) -> None:
    """Delete a pod (never its volume: the StatefulSet makes it again) and see it as leaving at once, before the
    watch says so: the roll (roll.py), which may look again meanwhile, never takes a second pod down."""
    await rt.kube.delete_pod(tracker.namespace, name)
    pod = tracker.pods.get(name)
    if pod is not None:
        pod["metadata"] = {**pod["metadata"], "deletionTimestamp": pod["metadata"].get("deletionTimestamp") or "now"}


async def _step(
    rt: Runtime, tracker: DatabaseTracker, engine: Engine, pod: str, *words: str, timeout: float = STEP_TIMEOUT_SECONDS
) -> ExecResult | None:
    """One failover step in a pod's server container; None when it could not be run there."""
    command = ["sh", SCRIPTS.get(engine, DEFAULT_SCRIPT), *words]
    result = await rt.kube.exec_in_pod(tracker.namespace, pod, engine.value, command, timeout)
    if result is not None and result.exit_code != 0:
        logger.warning("%s in %s/%s failed: %s", " ".join(words), tracker.namespace, pod, result.stderr.strip())
    return result


def _succeeded(result: ExecResult | None) -> bool:
    return result is not None and result.exit_code == 0


async def ensure_role(rt: Runtime, tracker: DatabaseTracker, name: str, pod: dict[str, Any]) -> None:
    """The pod carries the role the status gives it; the first primary of a new Database may also initialise."""
    if deleting(pod):
        return
    wanted = role(name, current_primary(tracker.name, tracker.status))
    metadata: dict[str, Any] = {}
    if (pod["metadata"].get("labels") or {}).get(ROLE_LABEL) != wanted:
        metadata["labels"] = {ROLE_LABEL: wanted}
    annotations = pod["metadata"].get("annotations") or {}
    if (
        wanted == PRIMARY_ROLE
        and "currentPrimary" not in tracker.status
        and MAY_INITIALISE_ANNOTATION not in annotations
    ):
        metadata["annotations"] = {MAY_INITIALISE_ANNOTATION: "true"}
    if metadata:
        await rt.kube.patch_pod_metadata(tracker.namespace, name, metadata)


async def _condition(
    rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, up: bool, reason: str, message: str
) -> None:
    conditions = set_condition(
        tracker.status.get("conditions", []), PRIMARY_CONDITION, up, reason, message, body.metadata.get("generation")
    )
    await rt.write_status(tracker, {"conditions": conditions})


async def _positions(
    rt: Runtime, tracker: DatabaseTracker, engine: Engine, candidates: list[str]
) -> dict[str, Position]:
    """Each candidate's position, as it says; one that cannot say, or is no replica, is left out (and logged)."""
    positions = {}
    for pod in candidates:
        answer = await _step(rt, tracker, engine, pod, "position")
        if not _succeeded(answer):
            continue
        assert answer is not None
        try:
            positions[pod] = parse_position(engine, answer.stdout)
        except PositionError as error:
            logger.warning("%s/%s is no candidate for promotion: %s", tracker.namespace, pod, error)
    return positions


async def promotable(rt: Runtime, tracker: DatabaseTracker, engine: Engine, target: str) -> bool:
    """Whether a switchover to `target` could promote a replica now (asked before the primary is fenced)."""
    primary = current_primary(tracker.name, tracker.status)
    candidates = sorted(name for name, pod in tracker.pods.items() if name != primary and not deleting(pod))
    return choose(await _positions(rt, tracker, engine, candidates), target).pod is not None


async def _refused(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, primary: str, reason: str) -> None:
    """Said once (an Event and the condition) until a replica is promoted again."""
    if not tracker.failover_refused:
        tracker.failover_refused = True
        events.warning(body, "FailoverRefused", f"{primary} and no replica was promoted: {reason}")
        await _condition(rt, tracker, body, False, "NoPromotableReplica", f"{primary}; {reason}")


async def change_primary(
    rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, engine: Engine, target: str | None = None
) -> bool:
    """Fail over (target None: the old primary is down) or switch over to `target`; whether a replica was made
    primary. Nothing is promoted when no replica can be shown to have everything the others have, and the old
    primary is not fenced unless one could be promoted just before: a fence with nobody to take over would stop
    the writes for good instead of until the primary is back (a replica that cannot say its position, e.g. an
    engine whose steps ha-mysql.sh does not speak)."""
    planned = target is not None
    kind, done = ("switchover", "SwitchedOver") if planned else ("failover", "FailedOver")
    old = current_primary(tracker.name, tracker.status)
    pods = dict(tracker.pods)
    candidates = sorted(name for name, pod in pods.items() if name != old and not deleting(pod))
    if old in pods:
        before = choose(await _positions(rt, tracker, engine, candidates), target)
        if before.pod is None:
            await _refused(rt, tracker, body, f"primary {old} is left as it is", before.reason)
            return False
        await rt.kube.patch_pod_metadata(tracker.namespace, old, {"labels": {ROLE_LABEL: "fenced"}})
        fenced = await _step(rt, tracker, engine, old, "fence", timeout=FENCE_TIMEOUT_SECONDS)
        last = fenced_at(engine, fenced.stdout) if fenced is not None and _succeeded(fenced) else None
        if planned and last is not None:
            await _step(rt, tracker, engine, str(target), "catch-up", last)  # its last write, before promoting
    choice = choose(await _positions(rt, tracker, engine, candidates), target)
    if choice.pod is None:
        await _refused(rt, tracker, body, f"primary {old} is fenced", choice.reason)
        return False
    new = choice.pod
    tracker.failover_refused = False
    # Recorded before anything acts on it: an operator that restarts meanwhile carries on with the same replica.
    message = f"{kind}: {old} -> {new} ({choice.reason})"
    await rt.write_status(tracker, {"currentPrimary": new})
    await _condition(rt, tracker, body, False, "Promoting", message)
    if not _succeeded(await _step(rt, tracker, engine, new, "promote")):
        events.warning(body, "PromotionFailed", f"{message}: the promotion did not finish; tried again")
        return False
    await ensure_role(rt, tracker, new, pods[new])
    if old in pods:
        await delete_pod(rt, tracker, old)  # it comes back a replica: its bootstrap rejoins it
    for pod in candidates:
        if pod != new:
            await _step(rt, tracker, engine, pod, "follow")
    events.normal(body, done, message)
    await _condition(rt, tracker, body, True, done, message)
    # As if down from a little in the future: the new primary has PROMOTION_GRACE_SECONDS to show ready.
    tracker.primary_down_since = time.monotonic() + PROMOTION_GRACE_SECONDS
    return True


async def _follow(rt: Runtime, tracker: DatabaseTracker, engine: Engine, primary: str) -> None:
    """Replicas whose server runs but does not replicate (an old primary back as a replica, one that lost its
    source) are told to follow the primary, at most every FOLLOW_INTERVAL_SECONDS each."""
    now = time.monotonic()
    for name, pod in dict(tracker.pods).items():
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        running = any(s.get("name") == engine.value and "running" in (s.get("state") or {}) for s in statuses)
        if name == primary or deleting(pod) or pod_ready(pod) or not running:
            continue
        if now - tracker.followed.get(name, 0.0) >= FOLLOW_INTERVAL_SECONDS:
            tracker.followed[name] = now
            await _step(rt, tracker, engine, name, "follow")


async def reconcile_primary(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> float | None:
    """Labels, the first primary's record, switchovers asked for and failovers due; the seconds until this must
    run again for a failover to happen on time, or None."""
    engine = Engine((body.get("spec") or {})["type"])
    pods = dict(tracker.pods)
    for name, pod in pods.items():
        await ensure_role(rt, tracker, name, pod)
    primary = current_primary(tracker.name, tracker.status)
    live = pods.get(primary)
    healthy = live is not None and pod_ready(live) and not deleting(live)
    if "currentPrimary" not in tracker.status:
        # A new Database (or one made before this version): never failed over before its first ready primary.
        if healthy:
            await rt.write_status(tracker, {"currentPrimary": primary})
            await _condition(rt, tracker, body, True, "Ready", f"{primary} is the primary")
        return None
    target = body.metadata.annotations.get(SWITCHOVER_ANNOTATION)
    if healthy:
        tracker.primary_down_since = None
        if target:
            await _switch_over(rt, tracker, body, engine, primary, target)
        await _follow(rt, tracker, engine, primary)
        return None
    if not [name for name in pods if name != primary]:
        return None  # no replica to promote: the primary comes back by itself or not at all
    now = time.monotonic()
    if tracker.primary_down_since is None:
        tracker.primary_down_since = now
        events.warning(
            body, "PrimaryDown", f"primary {primary} is not ready; failover in {rt.settings.failover_after_seconds:g} s"
        )
    wait = rt.settings.failover_after_seconds - (now - tracker.primary_down_since)
    if wait > 0:
        return wait
    if await change_primary(rt, tracker, body, engine):
        return None
    return rt.settings.failover_after_seconds  # could not decide: look again


async def _switch_over(
    rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, engine: Engine, primary: str, target: str
) -> None:
    """The planned switchover the annotation asks for, if its target is a ready replica; the annotation is
    removed either way, so it never acts again later (e.g. after a failover moved the primary elsewhere)."""
    pod = tracker.pods.get(target)
    if target == primary:
        pass
    elif pod is None or not pod_ready(pod) or deleting(pod):
        events.warning(body, "SwitchoverRefused", f"{target} is not a ready replica of this Database")
    else:
        await change_primary(rt, tracker, body, engine, target)
    await rt.kube.remove_database_annotation(tracker.namespace, tracker.name, SWITCHOVER_ANNOTATION)

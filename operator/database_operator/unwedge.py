"""A rollout is never wedged by a broken pod of an old revision.

A StatefulSet with OrderedReady never replaces a pod that is not Ready (kubernetes/kubernetes#67250): a pod of the
old revision that crash-loops (a bad configuration since fixed in the spec, an old pod whose restart went wrong)
stops the rollout for good. The watcher daemon deletes such a pod once it has been not Ready for
`unwedge_after_seconds`; the StatefulSet makes it again from the new template, on the same claim (a pod's deletion
never touches its PersistentVolumeClaim). The rollout would replace that pod anyway: this only lets it.

Never a pod of the update revision (deleting it would bring back the same template), never one already going, never
one below a rollout's partition (the StatefulSet would make it again from the old template), and nothing while a
pod of the update revision is not Ready: the new template may be the broken one (a bad setting just applied), and
the StatefulSet rightly holds the old pods back; deleting a struggling old pod then would only make it broken too.

The primary only when no other pod is Ready: otherwise failover (failover.py, after failover_after_seconds, much
shorter) promotes a ready replica and deletes the old primary's pod itself, which comes back from the new template;
deleting it here as well would race that. With no ready pod there is nothing to fail over to, and the primary's pod
is wedged like any other.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from database_operator import events
from database_operator.instances import deleting, ordinal, pod_ready, pod_revision, update_revision
from database_operator.primary import current_primary
from database_operator.runtime import DatabaseTracker, Runtime


@dataclass(frozen=True)
class StuckPod:
    name: str
    uid: str
    not_ready_seconds: float


def _partition(statefulset: Mapping[str, Any]) -> int:
    """Pods below this ordinal stay on the current revision (a partitioned rollout): one deleted there comes back
    from the old template, so it is not out of date in the sense that matters here."""
    strategy = (statefulset.get("spec") or {}).get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


def _not_ready_since(pod: Mapping[str, Any]) -> datetime | None:
    """When the pod last became not Ready (or was made, before it has a Ready condition)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = [c for c in conditions if c.get("type") == "Ready" and c.get("lastTransitionTime")]
    stamp = ready[0]["lastTransitionTime"] if ready else (pod.get("metadata") or {}).get("creationTimestamp")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def stuck_pods(
    statefulset: Mapping[str, Any], pods: Mapping[str, Mapping[str, Any]], primary: str, now: datetime, after: float
) -> tuple[list[StuckPod], float | None]:
    """The pods to delete now, and the seconds until the next one would be due (None: none is waiting)."""
    revision = update_revision(statefulset)
    if revision is None or any(pod_revision(pod) == revision and not pod_ready(pod) for pod in pods.values()):
        return [], None
    ready_elsewhere = {name for name, pod in pods.items() if pod_ready(pod)}
    partition = _partition(statefulset)
    stuck: list[StuckPod] = []
    waits: list[float] = []
    for name, pod in sorted(pods.items()):
        if pod_revision(pod) in (None, revision) or deleting(pod):
            continue
        if ordinal(pod) < partition:
            continue
        if pod_ready(pod) or (name == primary and ready_elsewhere - {name}):
            continue
        since = _not_ready_since(pod)
        if since is None:
            continue
        seconds = (now - since).total_seconds()
        if seconds >= after:
            stuck.append(StuckPod(name, pod["metadata"]["uid"], seconds))
        else:
            waits.append(after - seconds)
    return stuck, min(waits, default=None)


async def unwedge_rollout(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> float | None:
    """Delete the Database's stuck out-of-date pods; the seconds until this must run again, or None."""
    if tracker.statefulset is None:
        return None
    primary = current_primary(tracker.name, tracker.status)
    after = rt.settings.unwedge_after_seconds
    stuck, wait = stuck_pods(tracker.statefulset, dict(tracker.pods), primary, datetime.now(UTC), after)
    tracker.replaced_pods &= {pod["metadata"]["uid"] for pod in tracker.pods.values()}
    for pod in stuck:
        if pod.uid in tracker.replaced_pods:
            continue  # deleted already: the watch has not shown it going yet
        events.warning(
            body,
            "StuckPodReplaced",
            f"pod {pod.name} of an old revision was not ready for {pod.not_ready_seconds:.0f} s and held up the "
            "rollout: deleted, the StatefulSet makes it again from the new template (its volume is kept)",
        )
        await rt.kube.delete_pod(tracker.namespace, pod.name)
        tracker.replaced_pods.add(pod.uid)
    return wait

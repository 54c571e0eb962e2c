"""Database pods as the status shows them: each pod's role (the status's current primary), readiness and lag.

Pure functions; the pod watch (observe.py) feeds them and the Database's watcher daemon writes the result.
"""

import re
from collections.abc import Mapping
from typing import Any

from database_api.names import POD_INDEX_LABEL, PRIMARY_ROLE, REPLICA_ROLE
from database_api.status import Instance

# What the metrics exporters report for a replica: mysqld_exporter's slave_status collector (the column is
# Seconds_Behind_Master before MySQL 8.0.22 and in MariaDB, Seconds_Behind_Source after) and
# postgres_exporter's replication collector.
LAG_METRICS = re.compile(
    r"^(?:mysql_slave_status_seconds_behind_(?:master|source)|pg_replication_lag_seconds)(?:\{[^}]*\})?\s+(\S+)$",
    re.MULTILINE,
)


def ordinal(pod: Mapping[str, Any]) -> int:
    """The pod's ordinal in its StatefulSet: the controller's pod-index label, else the name's suffix."""
    metadata = pod.get("metadata") or {}
    label = (metadata.get("labels") or {}).get(POD_INDEX_LABEL)
    return int(label if label is not None else str(metadata.get("name", "")).rsplit("-", 1)[-1])


REVISION_LABEL = "controller-revision-hash"
"""The StatefulSet controller's label on each pod: the revision (ControllerRevision) of its template."""


def pod_revision(pod: Mapping[str, Any]) -> str | None:
    revision: str | None = ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL)
    return revision


def update_revision(statefulset: Mapping[str, Any]) -> str | None:
    """The revision the StatefulSet's pods are to be made from, once its status has caught up with its spec."""
    status = statefulset.get("status") or {}
    if status.get("observedGeneration") != (statefulset.get("metadata") or {}).get("generation"):
        return None
    revision: str | None = status.get("updateRevision") or None
    return revision


def deleting(pod: Mapping[str, Any]) -> bool:
    """The pod is on its way out (its deletion seen, or made by this operator a moment ago: failover.delete_pod)."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def missing_configuration(pod: Mapping[str, Any]) -> str | None:
    """Why a container of the pod cannot be created because something it reads is gone, e.g. `secret
    "shop-credentials" not found` (the kubelet's CreateContainerConfigError); None when nothing is missing."""
    status = pod.get("status") or {}
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CreateContainerConfigError":
            return str(waiting.get("message") or "CreateContainerConfigError")
    return None


def bootstrap_failure(pod: Mapping[str, Any]) -> str | None:
    """The bootstrap init container's termination message while it has not succeeded: which step failed."""
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    for status in statuses:
        if status.get("name") != "bootstrap":
            continue
        state = status.get("state") or {}
        if (state.get("terminated") or {}).get("exitCode") == 0:
            return None
        terminated = state.get("terminated") or (status.get("lastState") or {}).get("terminated") or {}
        if terminated.get("exitCode", 0) != 0:
            return str(terminated.get("message") or terminated.get("reason") or "failed").strip()
    return None


def replication_lag(metrics: str) -> float | None:
    """The lag a replica's exporter reports, in seconds; None when it reports none (e.g. not replicating)."""
    found = LAG_METRICS.search(metrics)
    if found is None:
        return None
    value = float(found.group(1))
    return value if value >= 0 else None  # -1 or NaN: the exporter does not know


def instances(pods: Mapping[str, Mapping[str, Any]], lags: Mapping[str, float], primary: str) -> list[dict[str, Any]]:
    """The status entries of a Database's pods, primary first, then by ordinal; `lags`: replicas' lag by pod
    name."""
    return [
        Instance(
            pod=name,
            role=PRIMARY_ROLE if name == primary else REPLICA_ROLE,
            ready=pod_ready(pod),
            lag_seconds=lags.get(name),
            bootstrap_failure=bootstrap_failure(pod),
        ).model_dump(by_alias=True, exclude_none=True)
        for name, pod in sorted(pods.items(), key=lambda item: (item[0] != primary, ordinal(item[1])))
    ]

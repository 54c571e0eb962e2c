"""Leader election between operator processes, with kopf's peering.

Two operators driving the same stacks would fight over them (each `up` reverting the other's view, locks
taken over). So only one reconciles: every operator process joins the cluster-wide peering object
`database-operator` (a `ClusterKopfPeering`, CRD in crds/database.yaml) with a priority from its start time,
the earliest-started the highest. kopf pauses every other one: no watches, no handlers, no daemons. The
admission webhooks are served by every process, paused or not. A process that stops leaves the peering at
once; one that dies is presumed dead `lifetime` seconds after its last keep-alive, and the next-oldest
resumes then: a standby takes over at most `DBOP_PEERING_LIFETIME` seconds (default 15) after the leader died.
"""

import time

import kopf

PEERING_NAME = "database-operator"
PEERING_GROUP, PEERING_VERSION, PEERING_PLURAL = "kopf.dev", "v1", "clusterkopfpeerings"
PRIORITY_CEILING = 10**16
"""Microseconds since the epoch stay below this for centuries: priorities stay positive and ordered."""


def start_priority(started_ns: int | None = None) -> int:
    """The earlier a process started, the higher its priority: a newcomer (a rollout's new pod, a second
    `database-operator run`) waits while an older leader runs, instead of taking over mid-operation."""
    started = time.time_ns() if started_ns is None else started_ns
    return PRIORITY_CEILING - started // 1000


def configure_peering(settings: kopf.OperatorSettings, lifetime_seconds: int) -> None:
    """Cluster-wide peering even when the operator serves only some namespaces: one leader for all of them."""
    settings.peering.clusterwide = True
    settings.peering.priority = start_priority()
    settings.peering.lifetime = lifetime_seconds
    settings.peering.stealth = True  # no keep-alive line in the log every few seconds

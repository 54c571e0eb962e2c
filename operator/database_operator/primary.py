"""Which pod is the primary, and which replica a failover promotes: pure decisions, no IO (failover.py acts).

A replica's position is what it has of the primary's history, per replication domain: PostgreSQL has one (the WAL,
by LSN), MariaDB one per GTID domain (by sequence number, with the server id that wrote it). The replica promoted
is the one that has everything every other reachable replica has; when none has (histories that diverged), or a
replica wrote transactions of its own (errant), nothing is promoted: a person must look.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from database_api.names import PRIMARY_ROLE, REPLICA_ROLE
from database_api.profiles import Engine
from database_operator.instances import ordinal

LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def current_primary(database: str, status: Mapping[str, Any]) -> str:
    """The pod the status names, else pod 0: a new Database's first primary."""
    return str(status.get("currentPrimary") or f"{database}-0")


def role(pod: str, primary: str) -> str:
    return PRIMARY_ROLE if pod == primary else REPLICA_ROLE


@dataclass(frozen=True)
class Position:
    """What a replica has, by replication domain: the last (sequence, server id) of each."""

    domains: Mapping[int, tuple[int, int]]

    def covers(self, other: "Position") -> bool:
        """Whether this has everything `other` has (same writer at equal sequence numbers)."""
        for domain, (sequence, server) in other.domains.items():
            mine = self.domains.get(domain)
            if mine is None or mine[0] < sequence or (mine[0] == sequence and mine[1] != server):
                return False
        return True


class PositionError(ValueError):
    """A pod's answer that is not a replica's position: it runs as a primary, or it wrote transactions of its own."""


def _lsn(text: str) -> int:
    found = LSN.match(text)
    if found is None:
        raise PositionError(f"not an LSN: {text!r}")
    return (int(found.group(1), 16) << 32) + int(found.group(2), 16)


def _gtids(text: str) -> dict[int, tuple[int, int]]:
    """A MariaDB GTID list (`0-1-42,1-2-7`; `-` for none) as domain -> (sequence, server id)."""
    result: dict[int, tuple[int, int]] = {}
    for item in filter(None, text.strip().split(",")) if text.strip() != "-" else []:
        found = GTID.match(item.strip())
        if found is None:
            raise PositionError(f"not a GTID: {item!r}")
        domain, server, sequence = (int(part) for part in found.groups())
        result[domain] = (sequence, server)
    return result


def parse_position(engine: Engine, answer: str) -> Position:
    """A pod's answer to `ha-<engine>.sh position` as a replica's position; PositionError if it is none."""
    words = answer.split()
    if words[:1] == ["primary"]:
        raise PositionError("runs as a primary")
    if engine is Engine.POSTGRESQL:
        if len(words) != 3 or words[0] != "standby":
            raise PositionError(f"unexpected answer {answer!r}")
        # All it received counts: a promoted standby replays it first.
        return Position({0: (max(_lsn(words[1]), _lsn(words[2])), 0)})
    if len(words) != 5 or words[0] != "replica":
        raise PositionError(f"unexpected answer {answer!r}")
    server = int(words[1])
    replicated, logged, received = _gtids(words[2]), _gtids(words[3]), _gtids(words[4])
    domains = dict(replicated)
    for domain, (sequence, writer) in logged.items():
        # Its own writes past what it replicated: transactions no primary has (errant, gtid_strict_mode).
        if writer == server and sequence > replicated.get(domain, (-1, 0))[0]:
            raise PositionError(f"errant transaction {domain}-{writer}-{sequence}: written on this replica itself")
        domains[domain] = max(domains.get(domain, (-1, 0)), (sequence, writer))
    for domain, latest in received.items():
        domains[domain] = max(domains.get(domain, (-1, 0)), latest)
    return Position(domains)


def fenced_at(engine: Engine, answer: str) -> str | None:
    """Where a fenced primary's history ended (`fenced <LSN>` or `fenced <GTID list>`), checked before another pod
    is asked to wait for it; None when the answer is anything else."""
    words = answer.split()
    if len(words) != 2 or words[0] != "fenced":
        return None
    try:
        _lsn(words[1]) if engine is Engine.POSTGRESQL else _gtids(words[1])
    except PositionError:
        return None
    return words[1]


@dataclass(frozen=True)
class Choice:
    pod: str | None
    reason: str


def choose(positions: Mapping[str, Position], preferred: str | None = None) -> Choice:
    """The replica to promote: one that covers every other; `preferred` (a switchover's target) when it does,
    else the lowest ordinal of those that do (deterministic when several are equally advanced)."""
    if not positions:
        return Choice(None, "no replica could say how far it is")
    complete = sorted(
        (pod for pod, position in positions.items() if all(position.covers(other) for other in positions.values())),
        key=lambda pod: ordinal({"metadata": {"name": pod}}),
    )
    if not complete:
        return Choice(None, "no replica has everything the others have (their histories diverged)")
    if preferred in complete:
        return Choice(preferred, f"{preferred} has everything the other replicas have")
    behind = f"; {preferred} is behind" if preferred else ""
    return Choice(complete[0], f"{complete[0]} is the most advanced replica{behind}")

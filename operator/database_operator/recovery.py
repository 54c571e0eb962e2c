"""Recovery: an operation that a crash or a timeout cut short is cleaned up before the next one starts, and a
stack lock is taken from its holder only when that holder is known to be dead.

A marker file is written into the stack's workspace before an operation starts and removed when it ends:
finding it means the operation was cut short (the operator died, or the operation was ended at its timeout).
"""

import logging
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pulumi import automation as auto

from database_operator.processes import command_of, is_pulumi

logger = logging.getLogger(__name__)

IN_FLIGHT_MARKER = ".operation-in-flight"


def mark_in_flight(work_dir: Path) -> None:
    (work_dir / IN_FLIGHT_MARKER).touch()


def clear_in_flight(work_dir: Path) -> None:
    (work_dir / IN_FLIGHT_MARKER).unlink(missing_ok=True)


def interrupted(work_dir: Path) -> bool:
    return (work_dir / IN_FLIGHT_MARKER).exists()


def recover(stack: auto.Stack) -> None:
    """After an operation was cut short: refresh the state from the live objects, which it may have changed
    (state is written only when an operation ends: automation.CLI_ENV). Objects it created are adopted by the
    next `up` (server-side apply upserts), never duplicated. The caller releases a dead holder's lock first
    (see dead_holders) and clears the marker after."""
    logger.warning("stack %s: the previous operation was cut short; refreshing its state", stack.name)
    stack.refresh(clear_pending_creates=True, suppress_progress=True, suppress_outputs=True)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a stack's lock, as a self-managed backend's lock error names it."""

    host: str
    pid: int
    since: datetime


# The lock error of a self-managed (file, S3, ...) backend names each lock:
#   "<url>: created by <user>@<host> (pid <pid>) at <RFC 3339 time>"
_HOLDER = re.compile(r"created by [^@\s]*@(?P<host>\S+) \(pid (?P<pid>\d+)\) at (?P<since>\S+)")


def lock_holders(error: auto.CommandError) -> list[LockHolder]:
    """The holders a lock error names; none for a backend that does not name them (Pulumi Cloud)."""
    return [
        LockHolder(match["host"], int(match["pid"]), datetime.fromisoformat(match["since"].replace("Z", "+00:00")))
        for match in _HOLDER.finditer(str(error))
    ]


def holder_alive(holder: LockHolder, stale_after: timedelta) -> bool:
    """On this host, whether the holding Pulumi process still runs (a reused pid running something else does
    not count). Elsewhere nothing can be checked but age: every operation ends at its timeout, so a lock older
    than `stale_after` (longer than that timeout) has no live holder."""
    if holder.host != socket.gethostname():
        return datetime.now(UTC) - holder.since < stale_after
    command = command_of(holder.pid)
    return command is not None and is_pulumi(command)

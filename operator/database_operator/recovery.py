"""Crash recovery: an operation that a crash cut short is noticed and cleaned up before the next one starts.

A marker file is written into the stack's workspace before an operation starts and removed when it ends:
finding it means the operator died mid-operation.
"""

import logging
from pathlib import Path

from pulumi import automation as auto

logger = logging.getLogger(__name__)

IN_FLIGHT_MARKER = ".operation-in-flight"


def mark_in_flight(work_dir: Path) -> None:
    (work_dir / IN_FLIGHT_MARKER).touch()


def clear_in_flight(work_dir: Path) -> None:
    (work_dir / IN_FLIGHT_MARKER).unlink(missing_ok=True)


def recover_if_interrupted(stack: auto.Stack, work_dir: Path) -> None:
    """After a crash mid-operation: release the dead operation's lock and refresh the state from the live
    objects, which the dead operation may have changed (state is written only when an operation ends:
    automation.CLI_ENV). Objects it created are adopted by the next `up` (server-side apply upserts), never
    duplicated."""
    if not (work_dir / IN_FLIGHT_MARKER).exists():
        return
    logger.warning("stack %s: the previous operation was interrupted; recovering", stack.name)
    try:
        stack.cancel()
    except auto.CommandError as error:
        logger.info("stack %s: no lock to release (%s)", stack.name, str(error).strip()[:200])
    stack.refresh(clear_pending_creates=True, suppress_progress=True, suppress_outputs=True)
    clear_in_flight(work_dir)

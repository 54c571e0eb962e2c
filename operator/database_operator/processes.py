"""The Pulumi processes the operator starts, found again by a tag in their environment, so none outlives it.

Every Pulumi CLI the operator runs gets `DBOP_OPERATOR_INSTANCE` (this process) and `DBOP_OPERATION` (the
operation) in its environment, and the CLI passes its environment on to the plugins it starts. Plugins run in
process groups of their own and outlive a killed CLI, so neither process groups nor parenthood find them all;
the tag does, for as long as they run. A process is ended only if it carries one of our tags *and* its command
is a Pulumi one (`pulumi`, `pulumi-resource-*`, `pulumi-language-*`): never anyone else's.

Each instance records itself under `<state_dir>/instances/`. A start ends the processes of recorded instances
that are no longer running (a crash or SIGKILL left them behind); instances still running (another operator
sharing the state directory) are left alone.
"""

import contextlib
import json
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from database_operator.atomic_file import write_atomically

logger = logging.getLogger(__name__)

INSTANCE_ENV = "DBOP_OPERATOR_INSTANCE"
OPERATION_ENV = "DBOP_OPERATION"
PROC = Path("/proc")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process for good."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def command_of(pid: int) -> str | None:
    """The executable a process runs, as its command line names it; None when it is gone (or not ours)."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return None


def is_pulumi(command: str) -> bool:
    return Path(command).name == "pulumi" or Path(command).name.startswith(("pulumi-resource-", "pulumi-language-"))


@dataclass(frozen=True)
class Tagged:
    """A running Pulumi process that carries our tags."""

    pid: int
    command: str
    tags: dict[str, str]


def tagged_processes() -> Iterator[Tagged]:
    """Every process whose environment carries one of our tags and whose command is a Pulumi one."""
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        command = command_of(int(entry.name)) or ""
        tags = {}
        for variable in environ.split(b"\0"):
            key, _, value = variable.decode(errors="replace").partition("=")
            if key in (INSTANCE_ENV, OPERATION_ENV):
                tags[key] = value
        if tags and is_pulumi(command):
            yield Tagged(int(entry.name), command, tags)


def end_processes(key: str, value: str, grace_seconds: float) -> int:
    """SIGTERM every Pulumi process tagged `key=value`, SIGKILL those still there after the grace period;
    return how many there were."""
    targets = [process.pid for process in tagged_processes() if process.tags.get(key) == value]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    remaining = targets
    while remaining and time.monotonic() < deadline:
        time.sleep(0.1)
        remaining = [pid for pid in remaining if _start_time(pid) is not None and not _zombie(pid)]
    for pid in remaining:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(targets)


def _zombie(pid: int) -> bool:
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class PulumiProcesses:
    """This operator instance's tag, the end of its processes, and the clean-up after dead instances."""

    def __init__(self, state_dir: Path) -> None:
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._records = state_dir / "instances"

    def environment(self, operation: str) -> dict[str, str]:
        """The tags for the processes of one operation."""
        return {INSTANCE_ENV: self.instance, OPERATION_ENV: operation}

    def register(self) -> None:
        """Record this instance, then end what dead instances left running."""
        self._records.mkdir(parents=True, exist_ok=True)
        for record in self._records.glob("*.json"):
            self._end_if_dead(record)
        this = {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_time(os.getpid())}
        write_atomically(self._records / f"{self.instance}.json", json.dumps(this))

    def _end_if_dead(self, path: Path) -> None:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            return
        if record.get("host") != socket.gethostname():
            return  # another machine's: its processes are not visible here
        if _start_time(int(record["pid"])) == record.get("started"):
            return  # still running: another operator sharing this state directory
        ended = end_processes(INSTANCE_ENV, path.stem, grace_seconds=5)
        if ended:
            logger.warning("ended %d Pulumi processes left running by operator instance %s", ended, path.stem)
        path.unlink(missing_ok=True)

    def end_operation(self, operation: str, grace_seconds: float = 5) -> int:
        return end_processes(OPERATION_ENV, operation, grace_seconds)

    def end_all(self, grace_seconds: float) -> None:
        """At shutdown: end every Pulumi process this instance started, then forget the instance."""
        ended = end_processes(INSTANCE_ENV, self.instance, grace_seconds)
        if ended:
            logger.info("ended %d Pulumi processes at shutdown", ended)
        (self._records / f"{self.instance}.json").unlink(missing_ok=True)

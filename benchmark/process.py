"""CPU and memory of a process and its descendants, from /proc (Linux)."""

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after its closing parenthesis is positional.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and of every child it has waited for (which includes their children):
    the operator's own work plus every Pulumi CLI, language host and provider plugin run that has ended."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICKS


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        for child in children.get(current, []):
            found.append(child)
            queue.append(child)
    return found


def rss_bytes(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[21]) * _PAGE if fields else 0


@dataclass
class Usage:
    """Peak memory, sampled: the operator process alone and with everything it runs at that moment."""

    pid: int
    peak_operator_bytes: int = 0
    peak_tree_bytes: int = 0

    def sample(self) -> None:
        own = rss_bytes(self.pid)
        tree = own + sum(rss_bytes(child) for child in descendants(self.pid))
        self.peak_operator_bytes = max(self.peak_operator_bytes, own)
        self.peak_tree_bytes = max(self.peak_tree_bytes, tree)

"""CPU and memory of a process and its descendants, from /proc (Linux)."""

import os
import re
import subprocess
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Cpu:
    """User + system CPU seconds of a process: its own, and that of every child it has waited for (which
    includes their children). For the operator: its own Python, and every Pulumi CLI and provider plugin run
    that has ended."""

    own: float
    children: float

    @property
    def total(self) -> float:
        return self.own + self.children

    def __sub__(self, earlier: "Cpu") -> "Cpu":
        return Cpu(self.own - earlier.own, self.children - earlier.children)


def cpu(pid: int) -> Cpu:
    fields = _stat(pid)
    if fields is None:
        return Cpu(0.0, 0.0)
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return Cpu((utime + stime) / _TICKS, (cutime + cstime) / _TICKS)


def cpu_seconds(pid: int) -> float:
    return cpu(pid).total


def control_plane_cpu_seconds(cluster_dir: Path) -> float:
    """CPU of the local cluster's processes (toolchain/cluster.sh's pid files: API server, etcd, controller
    manager, scheduler, kwok), for the share of the work the operator leaves to the cluster."""
    pids = (path.read_text().strip() for path in sorted((cluster_dir / "pids").glob("*.pid")))
    return sum(cpu_seconds(int(pid)) for pid in pids if pid.isdigit())


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


def _received_by_socket(pid: int, port: int) -> dict[str, int]:
    """Bytes each TCP connection of the process to `port` has received so far (`ss` reads the kernel's
    tcp_info), by local address."""
    lines = subprocess.run(
        ["ss", "-tinpH", "state", "established", "dport", "=", f":{port}"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    received: dict[str, int] = {}
    for socket, info in zip(lines[::2], lines[1::2], strict=False):
        if f"pid={pid}," not in socket:
            continue
        local = socket.split()[2]
        found = re.search(r"\bbytes_received:(\d+)", info)
        received[local] = int(found.group(1)) if found else 0
    return received


@dataclass
class Received:
    """Bytes the process received from one port (the API server), over every connection seen while sampled: one
    that closes between two samples loses at most what it received since the last one."""

    pid: int
    port: int
    current: dict[str, int] = field(default_factory=dict)
    ended: int = 0
    """What connections no longer open (or whose local address a new one reuses) had received."""

    def sample(self) -> None:
        now = _received_by_socket(self.pid, self.port)
        for local, count in self.current.items():
            if now.get(local, 0) < count:
                self.ended += count
        self.current = now

    @property
    def total(self) -> int:
        return self.ended + sum(self.current.values())

"""Helpers for end-to-end tests: kubectl against the local cluster, waiting, and the operator process."""

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
"""The start of each of the operator's log records (its logging format)."""


def toolchain_bin() -> Path:
    return Path(subprocess.check_output([str(REPO / "toolchain" / "build.sh"), "--print-bin-dir"], text=True).strip())


TEST_CLUSTER_ENV = REPO / "tests" / "e2e" / "test-cluster.env"
# scripts/test's second cluster, where the tests that need no real node run meanwhile
KWOK_TEST_CLUSTER_ENV = REPO / "tests" / "e2e" / "test-cluster-kwok.env"


def private_cluster_variables(env_file: Path = TEST_CLUSTER_ENV) -> dict[str, str]:
    """The DBOP_* variables of one of the tests' own clusters, as its file sets them (bash decides; a variable
    already set in the environment wins)."""
    output = subprocess.check_output(["bash", "-c", 'set -a && . "$0" && env -0', str(env_file)], text=True)
    variables = dict(item.split("=", 1) for item in output.split("\0") if item)
    return {name: value for name, value in variables.items() if name.startswith("DBOP_")}


def host_source_cidrs(env: dict[str, str]) -> str:
    """The address this host reaches the real node's pods from (its end of the node's link), as a CIDR for the
    operator setting DBOP_OPERATOR_CIDRS; empty without a real node."""
    command = [str(REPO / "toolchain" / "cluster.sh"), "host-cidr"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()


@dataclass(frozen=True)
class Kubectl:
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", *args], input=stdin, env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply(self, manifest: dict[str, Any], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-f", "-", *args, stdin=json.dumps(manifest), check=check)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        result = self.run("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        selector = f"involvedObject.name={name},involvedObject.kind=Database"
        items: list[dict[str, Any]] = json.loads(
            self.run("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json").stdout
        )["items"]
        return items


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90, interval: float = 0.5) -> T:
    """Poll until probe returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class OperatorProcess:
    """The real operator, `database-operator run`, as a child process with its own state directory."""

    env: dict[str, str]
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    """Every operator process this started: their Pulumi processes carry their pid in their tag."""

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            ["database-operator", "run", "--liveness", f"http://127.0.0.1:{self.port}/healthz"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts.append(time.monotonic())
        self.pids.append(self.process.pid)
        wait_for("the operator's liveness endpoint", self._alive, timeout=60)

    def _alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the operator exited with {self.process.returncode}; log:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the operator and every child (Pulumi CLI, provider plugins): a crash, not a shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def tracebacks(self) -> list[str]:
        """Each traceback in the log, with the line that logged it: what a failed check shows (the log is
        thousands of lines)."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        found, end = [], 0
        for index, line in enumerate(lines):
            if index >= end and "Traceback" in line:
                end = next((i for i in range(index + 1, len(lines)) if LOG_RECORD.match(lines[i])), len(lines))
                found.append("\n".join(lines[max(index - 1, 0) : end]))
        return found


def pulumi_processes_of(operator_pids: list[int]) -> list[str]:
    """The Pulumi processes (CLI, plugins) still running that operators with these pids started."""
    from database_operator.processes import INSTANCE_ENV, tagged_processes  # noqa: PLC0415

    return [
        f"{process.pid} {process.command} ({process.tags[INSTANCE_ENV]})"
        for process in tagged_processes()
        if any(f"-{pid}-" in process.tags.get(INSTANCE_ENV, "") for pid in operator_pids)
    ]


class BackgroundLoop:
    """`step` over and over in a thread for as long as the `with` block runs; stopped and joined at its end."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def step(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

"""No Pulumi process outlives the operator: found by their tags, ended at shutdown and after a crash."""

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from database_operator.processes import INSTANCE_ENV, OPERATION_ENV, PulumiProcesses, _start_time

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a long sleep under a given command name with given environment tags."""
    started: list[subprocess.Popen[bytes]] = []

    def _spawn(name: str, **tags: str) -> subprocess.Popen[bytes]:
        command = tmp_path / "bin" / name
        command.parent.mkdir(exist_ok=True)
        if not command.exists():
            command.symlink_to(shutil.which("sleep") or "/bin/sleep")
        process = subprocess.Popen([str(command), "600"], env={**os.environ, **tags}, start_new_session=True)
        started.append(process)
        return process

    yield _spawn
    for process in started:
        process.kill()
        process.wait()


def ended(process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return True
        time.sleep(0.05)
    return False


def test_shutdown_ends_every_pulumi_process_of_this_instance_and_no_other(tmp_path: Path, spawn: Spawn) -> None:
    processes = PulumiProcesses(tmp_path)
    processes.register()
    cli = spawn("pulumi", **processes.environment("shop.orders/1"))
    plugin = spawn("pulumi-resource-kubernetes", **{INSTANCE_ENV: processes.instance, OPERATION_ENV: "shop.orders/1"})
    someone_elses = spawn("pulumi", **{INSTANCE_ENV: "another-operator"})
    not_pulumi = spawn("sleep", **processes.environment("shop.orders/1"))

    processes.end_all(grace_seconds=2)

    assert ended(cli) and ended(plugin)
    assert someone_elses.poll() is None and not_pulumi.poll() is None
    assert not list((tmp_path / "instances").iterdir())


def test_one_operations_processes_are_ended_alone(tmp_path: Path, spawn: Spawn) -> None:
    processes = PulumiProcesses(tmp_path)
    hung = spawn("pulumi", **processes.environment("shop.orders/1"))
    other = spawn("pulumi", **processes.environment("shop.invoices/2"))
    assert processes.end_operation("shop.orders/1", grace_seconds=2) == 1
    assert ended(hung) and other.poll() is None


def test_a_start_ends_the_orphans_of_a_dead_instance_and_leaves_a_live_ones(tmp_path: Path, spawn: Spawn) -> None:
    records = tmp_path / "instances"
    records.mkdir()
    dead_operator = subprocess.Popen(["true"])
    dead_operator.wait()
    dead = {"host": socket.gethostname(), "pid": dead_operator.pid, "started": "1"}
    (records / "crashed.json").write_text(json.dumps(dead))
    live = {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_time(os.getpid())}
    (records / "running.json").write_text(json.dumps(live))
    orphan = spawn("pulumi-resource-kubernetes", **{INSTANCE_ENV: "crashed"})
    running = spawn("pulumi-resource-kubernetes", **{INSTANCE_ENV: "running"})

    PulumiProcesses(tmp_path).register()

    assert ended(orphan)
    assert running.poll() is None
    assert not (records / "crashed.json").exists() and (records / "running.json").exists()

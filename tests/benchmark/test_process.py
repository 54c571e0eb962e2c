"""The benchmark's CPU figures from /proc: a process's own and its children's, and the control plane's."""

import os
import subprocess
import sys
from pathlib import Path

from benchmark.process import control_plane_cpu_seconds, cpu


def _burn(seconds: float) -> None:
    end = os.times().elapsed + seconds
    while os.times().elapsed < end:
        pass


def test_children_count_apart_from_the_process_once_waited_for() -> None:
    before = cpu(os.getpid())
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    spent = cpu(os.getpid()) - before
    assert spent.children >= 0.25 and spent.own < spent.children


def test_the_control_plane_is_the_sum_over_its_pid_files(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    for name in ("kube-apiserver", "etcd"):
        (pids / f"{name}.pid").write_text(f"{os.getpid()}\n")
    (pids / "kwok.pid").write_text("")  # not started
    _burn(0.2)
    own = cpu(os.getpid()).total
    assert abs(control_plane_cpu_seconds(tmp_path) - 2 * own) <= 0.05

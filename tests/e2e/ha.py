"""What the high-availability test and the benchmark's failover figure share: a writer of numbered rows through
`<name>` that records which commits were acknowledged, a primary's server killed from the host (the real node),
the writes' outage, and the operator's stacks-config with synchronous replication in development."""

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.cluster import REPO, Kubectl

Written = tuple[str, int, float]
"""One INSERT: `ok` or `fail`, its number, when it ended (epoch seconds)."""


class Writer:
    """A loop in the client pod: one INSERT of the next number per connection through `<database>`, every 0.2 s,
    each printed `ok <id> <time>` once the server acknowledged its commit, `fail <id> <time>` otherwise. The
    client pod has the application user's password in PGPASSWORD / MYSQL_PWD, the table is `t (id int)`."""

    def __init__(self, kubectl: Kubectl, namespace: str, client: str, engine: str, database: str, first: int) -> None:
        schema = database.replace("-", "_")
        sql = '"INSERT INTO t VALUES ($i)"'
        if engine == "postgresql":
            insert = f"timeout 5 psql -h {database} -U app -d {schema} -X -q -v ON_ERROR_STOP=1 -c {sql}"
        else:
            insert = f"timeout 5 mariadb -h {database} -u app --connect-timeout=2 {schema} -e {sql}"
        loop = (
            f"rm -f /tmp/stop; i={first}; while [ ! -f /tmp/stop ]; do "
            f'if {insert} >/dev/null 2>&1; then echo "ok $i $(date +%s.%N)"; else echo "fail $i $(date +%s.%N)"; fi; '
            "i=$((i + 1)); sleep 0.2; done"
        )
        command = ["kubectl", "exec", "-n", namespace, client, "--", "sh", "-c", loop]
        self.kubectl, self.namespace, self.client = kubectl, namespace, client
        self.process = subprocess.Popen(command, env=kubectl.env, stdout=subprocess.PIPE, text=True)

    def stop(self) -> list[Written]:
        self.kubectl.run("exec", "-n", self.namespace, self.client, "--", "touch", "/tmp/stop")
        output, _ = self.process.communicate(timeout=60)
        return [(word, int(number), float(at)) for word, number, at in (line.split() for line in output.splitlines())]


def write_outage(results: list[Written], changed_at: float) -> float | None:
    """The writes' outage across a change of primary seen at `changed_at`: the longest pause between acknowledged
    writes up to the first one after it (one every ~0.3 s otherwise); None when none was acknowledged after it.
    The writer cannot tell which server acknowledged (an old primary may take writes until it is fenced), so the
    pause, not the moment of the change, is the failover time."""
    times = [at for word, _, at in results if word == "ok"]
    resumed = next((at for at in times if at > changed_at), None)
    if resumed is None:
        return None
    return max((b - a for a, b in itertools.pairwise(t for t in times if t <= resumed)), default=0.0)


def server_processes(uid: str, binary: str) -> list[int]:
    """The pod's server processes on this host (the real node), found by the pod's cgroup."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cgroup = (proc / "cgroup").read_text()
            command = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, ValueError):
            continue
        if (f"pod{uid}" in cgroup or f"pod{uid.replace('-', '_')}" in cgroup) and command.endswith(binary):
            found.append(int(proc.name))
    return found


def kill_server(kubectl: Kubectl, namespace: str, pod: str, engine: str, seconds: float) -> None:
    """SIGKILL the pod's server process, and again each time its container restarts it, for `seconds`: a server
    that keeps crashing. (One that is back within the failover delay is not failed over, by design.)"""
    uid = (kubectl.get("pod", pod, namespace) or {})["metadata"]["uid"]
    binary = "postgres" if engine == "postgresql" else "mariadbd"
    killed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in server_processes(uid, binary):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.2)
    assert killed, f"no {binary} process of pod {pod} on this host"


def current_primary(kubectl: Kubectl, namespace: str, database: str) -> str | None:
    return ((kubectl.get("database", database, namespace) or {}).get("status") or {}).get("currentPrimary")


def synchronous_stacks_config(directory: Path) -> Path:
    """An overlay of stacks-config-local (the local images) in `directory` with synchronous replication in
    development, as production has it: an acknowledged commit is on a replica, so a failover loses none."""
    synchronous = {"development": {"synchronousReplication": True}}
    base = str(REPO / "stacks-config-local")
    directory.joinpath("overlay.yaml").write_text(json.dumps({"base": base, "environments": synchronous}))
    return directory

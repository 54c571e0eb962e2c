"""High availability on the real node, PostgreSQL and MariaDB, one Database of three pods per engine shared by the
scenarios: a writer inserts numbered rows through `<name>` and records which commits were acknowledged while

1. the primary's server process is killed (SIGKILL, from the host), again each time it restarts, for 8 s,
2. then the new primary's pod and its volume are deleted,
3. then a planned switchover moves the primary to a replica;

each time a replica is promoted (`status.currentPrimary`, an Event and the PrimaryAvailable condition name old and
new), writes succeed again through `<name>`, every acknowledged row is on the new primary (synchronous
replication, as production has it: this operator runs development with it on through a stacks-config overlay),
and the old primary comes back as a replica with every row. The failover time (the writes' outage: the longest
pause between acknowledged writes) is printed, never asserted."""

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, wait_for
from tests.e2e.conftest import stepping_in
from tests.e2e.databases import wait_ready
from tests.e2e.test_real_databases import (  # noqa: F401 (real_node: a fixture)
    client_pod,
    database,
    query,
    real_namespace,
    real_node,
)

READY_TIMEOUT = 300
SWITCHOVER = "database.example.com/switchover-to"


@pytest.fixture(scope="module")
def failover_operator(
    cluster_env: dict[str, str],
    kubectl: Kubectl,
    real_node: None,  # noqa: F811
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with the local images and synchronous replication in development (an overlay of
    stacks-config-local), failing over 3 s after the primary stops being ready. The session's kwok operator steps
    aside meanwhile (one leader per cluster)."""
    overlay = tmp_path_factory.mktemp("stacks-config-sync")
    synchronous = {"development": {"synchronousReplication": True}}
    base = str(REPO / "stacks-config-local")
    overlay.joinpath("overlay.yaml").write_text(json.dumps({"base": base, "environments": synchronous}))
    state_dir = tmp_path_factory.mktemp("failover-operator")
    env = {"DATABASE_STACKS_CONFIG": str(overlay), "DBOP_FAILOVER_AFTER": "3"}
    yield from stepping_in(operator, cluster_env, state_dir, "ha-*", **env)


@pytest.fixture
def namespace(kubectl: Kubectl, failover_operator: OperatorProcess) -> Iterator[str]:
    yield from real_namespace(kubectl, "ha")


class Writer:
    """A loop in the client pod: one INSERT of the next number per connection through `<name>`, every 0.2 s,
    each printed `ok <id> <time>` once the server acknowledged its commit, `fail <id> <time>` otherwise."""

    def __init__(self, kubectl: Kubectl, namespace: str, client: str, engine: str, first: int) -> None:
        if engine == "postgresql":
            insert = 'timeout 5 psql -h ha -U app -d ha -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO t VALUES ($i)"'
        else:
            insert = 'timeout 5 mariadb -h ha -u app --connect-timeout=2 ha -e "INSERT INTO t VALUES ($i)"'
        loop = (
            f"rm -f /tmp/stop; i={first}; while [ ! -f /tmp/stop ]; do "
            f'if {insert} >/dev/null 2>&1; then echo "ok $i $(date +%s.%N)"; else echo "fail $i $(date +%s.%N)"; fi; '
            "i=$((i + 1)); sleep 0.2; done"
        )
        command = ["kubectl", "exec", "-n", namespace, client, "--", "sh", "-c", loop]
        self.kubectl, self.namespace, self.client = kubectl, namespace, client
        self.process = subprocess.Popen(command, env=kubectl.env, stdout=subprocess.PIPE, text=True)

    def stop(self) -> list[tuple[str, int, float]]:
        self.kubectl.run("exec", "-n", self.namespace, self.client, "--", "touch", "/tmp/stop")
        output, _ = self.process.communicate(timeout=60)
        return [(word, int(number), float(at)) for word, number, at in (line.split() for line in output.splitlines())]


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


def current_primary(kubectl: Kubectl, namespace: str) -> str | None:
    return ((kubectl.get("database", "ha", namespace) or {}).get("status") or {}).get("currentPrimary")


def ids(kubectl: Kubectl, namespace: str, client: str, engine: str, host: str) -> set[int] | None:
    try:
        return {int(line) for line in query(kubectl, namespace, client, engine, host, "SELECT id FROM t").split()}
    except AssertionError:
        return None


def survive(
    kubectl: Kubectl, namespace: str, client: str, engine: str, first: int, what: str, fail: object
) -> tuple[str, int]:
    """Run the writer across `fail()`; check a replica took over, nothing acknowledged was lost, and the old
    primary is back as a replica with every row. Returns the new primary and the next id."""
    old = current_primary(kubectl, namespace)
    assert old is not None
    writer = Writer(kubectl, namespace, client, engine, first)
    time.sleep(2)
    fail()  # type: ignore[operator]
    new = wait_for(
        f"a new primary after {what}", lambda: (p := current_primary(kubectl, namespace)) != old and p, timeout=120
    )
    changed_at = time.time()
    wait_for(
        "a write acknowledged by the new primary", lambda: ids(kubectl, namespace, client, engine, "ha"), timeout=120
    )
    time.sleep(5)
    results = writer.stop()
    acknowledged = {number for word, number, _ in results if word == "ok"}
    times = [at for word, _, at in results if word == "ok"]
    resumed = next((at for at in times if at > changed_at), None)
    assert resumed is not None, f"no write acknowledged after the change of primary ({what}): {results[-10:]}"
    # The writer cannot tell which server acknowledged (the old primary may take writes until it is fenced), so the
    # failover time is the outage: the longest pause between acknowledged writes up to the first one after the
    # change of primary (one every ~0.3 s otherwise).
    outage = max((b - a for a, b in itertools.pairwise(t for t in times if t <= resumed)), default=0.0)
    print(f"{engine} {what}: {old} -> {new}; writes stopped for {outage:.1f} s; {len(acknowledged)} acknowledged")
    stored = ids(kubectl, namespace, client, engine, "ha")
    assert stored is not None and acknowledged <= stored, f"acknowledged but lost: {sorted(acknowledged - stored)}"
    events = [e["message"] for e in kubectl.events(namespace, "ha") if e["reason"] in ("FailedOver", "SwitchedOver")]
    assert any(f"{old} -> {new}" in message for message in events), events
    # The old primary rejoins as a replica and has every row (asked by its own name).
    wait_ready(kubectl, "ha", namespace, timeout=READY_TIMEOUT)

    def has_every_row() -> bool:
        found = ids(kubectl, namespace, client, engine, f"{old}.ha-headless")
        return found is not None and stored <= found

    wait_for(f"{old} to have every row", has_every_row, timeout=120)
    pod = kubectl.get("pod", old, namespace)
    assert pod is not None and pod["metadata"]["labels"]["database.example.com/role"] == "replica"
    return new, max(number for _, number, _ in results) + 1


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_replica_takes_over_and_no_acknowledged_write_is_lost(kubectl: Kubectl, namespace: str, engine: str) -> None:
    started = time.monotonic()
    kubectl.apply(database("ha", namespace, engine, replicas=3))
    wait_ready(kubectl, "ha", namespace, timeout=READY_TIMEOUT)
    client = client_pod(kubectl, namespace, "ha")
    query(kubectl, namespace, client, engine, "ha", "CREATE TABLE t (id int PRIMARY KEY)")
    assert current_primary(kubectl, namespace) == "ha-0"

    primary, first = survive(kubectl, namespace, client, engine, 1, "killing the primary's server",
                             lambda: kill_server(kubectl, namespace, "ha-0", engine, seconds=8))  # fmt: skip

    def delete_pod_and_volume() -> None:
        kubectl.run("delete", "pvc", f"data-{primary}", "-n", namespace, "--wait=false")
        kubectl.run("delete", "pod", primary, "-n", namespace, "--wait=false")

    primary, first = survive(kubectl, namespace, client, engine, first, "deleting the primary's pod and volume",
                             delete_pod_and_volume)  # fmt: skip

    target = next(f"ha-{i}" for i in range(3) if f"ha-{i}" != primary)

    def switch_over() -> None:
        kubectl.run("annotate", "database", "ha", "-n", namespace, f"{SWITCHOVER}={target}")

    primary, first = survive(kubectl, namespace, client, engine, first, f"a switchover to {target}", switch_over)
    assert primary == target
    print(f"{engine}: the failover test took {time.monotonic() - started:.0f} s")

"""High availability on the real node, PostgreSQL and MariaDB, one Database of three pods per engine shared by the
scenarios: a writer inserts numbered rows through `<name>` and records which commits were acknowledged while

1. the primary's server process is killed (SIGKILL, from the host), again each time it restarts, for 8 s,
2. then the new primary's pod and its volume are deleted,
3. then a planned switchover moves the primary to a replica,
4. then a rolling update (a new pod template) restarts the replicas one at a time, switches over to an updated one
   and restarts the old primary last (roll.py);

each time a replica is promoted (`status.currentPrimary`, an Event and the PrimaryAvailable condition name old and
new), writes succeed again through `<name>`, every acknowledged row is on the new primary (synchronous
replication, as production has it: this operator runs development with it on through a stacks-config overlay),
and the old primary comes back as a replica with every row. The failover time (the writes' outage: the longest
pause between acknowledged writes) is printed, never asserted."""

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Kubectl, OperatorProcess, wait_for
from tests.e2e.conftest import stepping_in
from tests.e2e.databases import query, routed_client, wait_ready
from tests.e2e.ha import Writer, current_primary, kill_server, synchronous_stacks_config, write_outage
from tests.e2e.test_real_databases import (  # noqa: F401 (real_node: a fixture)
    database,
    real_namespace,
    real_node,
)

READY_TIMEOUT = 300
# The pod template's change of the rolling update: another CPU limit than development's 500m.
NEW_RESOURCES = {"spec": {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                        "limits": {"cpu": "600m", "memory": "512Mi"}}}}  # fmt: skip
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
    overlay = synchronous_stacks_config(tmp_path_factory.mktemp("stacks-config-sync"))
    state_dir = tmp_path_factory.mktemp("failover-operator")
    env = {"DATABASE_STACKS_CONFIG": str(overlay), "DBOP_FAILOVER_AFTER": "3"}
    yield from stepping_in(operator, cluster_env, state_dir, "ha-*", **env)


@pytest.fixture
def namespace(kubectl: Kubectl, failover_operator: OperatorProcess) -> Iterator[str]:
    yield from real_namespace(kubectl, "ha")


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
    old = current_primary(kubectl, namespace, "ha")
    assert old is not None
    writer = Writer(kubectl, namespace, client, engine, "ha", first)
    time.sleep(2)
    fail()  # type: ignore[operator]
    new = wait_for(
        f"a new primary after {what}",
        lambda: (p := current_primary(kubectl, namespace, "ha")) != old and p,
        timeout=120,
    )
    changed_at = time.time()
    wait_for(
        "a write acknowledged by the new primary", lambda: ids(kubectl, namespace, client, engine, "ha"), timeout=120
    )
    time.sleep(5)
    results = writer.stop()
    acknowledged = {number for word, number, _ in results if word == "ok"}
    outage = write_outage(results, changed_at)
    assert outage is not None, f"no write acknowledged after the change of primary ({what}): {results[-10:]}"
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
    client = routed_client(kubectl, namespace, engine, "ha")
    query(kubectl, namespace, client, engine, "ha", "CREATE TABLE t (id int PRIMARY KEY)")
    assert current_primary(kubectl, namespace, "ha") == "ha-0"

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

    # A rolling update (a new pod template): the replicas first, then a switchover to an updated replica, then the
    # old primary, which comes back as a replica; the writer loses nothing (survive's checks).
    def update_the_template() -> None:
        kubectl.run("patch", "database", "ha", "-n", namespace, "--type=merge", "-p", json.dumps(NEW_RESOURCES))

    old, (primary, first) = primary, survive(kubectl, namespace, client, engine, first, "a rolling update",
                                             update_the_template)  # fmt: skip
    rolled = [e["message"] for e in kubectl.events(namespace, "ha") if e["reason"] == "RollingUpdate"]
    replicas = [f"ha-{i}" for i in range(3) if f"ha-{i}" != old]
    assert all(any(message.startswith(f"deleting pod {pod} ") for message in rolled) for pod in replicas), rolled
    assert any(message.startswith(f"switching over to {primary} ") for message in rolled), rolled
    assert not any(message.startswith(f"deleting pod {old} ") for message in rolled), rolled  # no restart in place
    revision = (kubectl.get("statefulset", "ha", namespace) or {})["status"]["updateRevision"]
    for pod in ("ha-0", "ha-1", "ha-2"):
        labels = (kubectl.get("pod", pod, namespace) or {})["metadata"]["labels"]
        assert labels["controller-revision-hash"] == revision, f"{pod} still runs an older template"
    print(f"{engine}: the failover test took {time.monotonic() - started:.0f} s")

"""Replication with the program's own configuration and scripts, on real servers: a primary and replicas on
loopback ports, each made as its pod makes it: the bootstrap init container (bootstrap-<engine>.sh: a fresh
primary, or a replica copied from the primary), then the server on the shipped configuration, then the readiness
script."""

from collections.abc import Callable

import pytest

from tests.servers.conftest import ADMIN_PASSWORD, Pod, Server, _wait, run_script
from tests.servers.test_bootstrap import check, rows

CATCH_UP_SECONDS = 60
MakePod = Callable[..., Pod]


def eventually(what: str, probe: Callable[[], bool]) -> None:
    _wait(what, probe, timeout=CATCH_UP_SECONDS)


def caught_up(replica: Server, primary: Server) -> Callable[[], bool]:
    return lambda: rows(replica) == rows(primary)


def ready(pod: Pod) -> bool:
    """What the readiness probe says (ready-<engine>.sh), with the server container's environment."""
    assert pod.server is not None
    env = {**pod.role_env, "ADMIN_PASSWORD": ADMIN_PASSWORD}
    if pod.engine == "postgresql":
        env |= {"ADMIN_USER": "postgres", "PGPORT": str(pod.server.port), "RUN_DIR": str(pod.run_dir)}
        return run_script("ready-postgresql.sh", env).returncode == 0
    env |= {"MYSQL_UNIX_PORT": str(pod.run_dir / "mysqld.sock")}
    return run_script("ready-mysql.sh", env).returncode == 0


def started(pod: Pod) -> Pod:
    check(pod.bootstrap())
    pod.start()
    return pod


@pytest.fixture(params=["postgresql", "mariadb"])
def primary(request: pytest.FixtureRequest, pods: MakePod) -> Pod:
    pod = started(pods(request.param))
    assert pod.server is not None
    pod.server.sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    return pod


def replica(pods: MakePod, primary: Pod, index: int) -> Pod:
    assert primary.server is not None
    return started(pods(primary.engine, index=index, primary_port=primary.server.port))


def server(pod: Pod) -> Server:
    assert pod.server is not None
    return pod.server


def test_rows_written_on_the_primary_appear_on_replicas(primary: Pod, pods: MakePod) -> None:
    assert primary.server is not None
    primary.server.sql("orders", "INSERT INTO notes VALUES (1, 'one'), (2, 'two'), (3, 'three')")

    copy = server(replica(pods, primary, 1))

    eventually("the first rows on the replica", lambda: len(rows(copy)) == 3)
    primary.server.sql("orders", "INSERT INTO notes VALUES (4, 'written after the replica started')")
    eventually("a later row on the replica", caught_up(copy, primary.server))
    if primary.engine == "postgresql":
        assert copy.sql("postgres", "SELECT pg_is_in_recovery()").strip() == "t"
    else:
        assert "Slave_Pos" in copy.sql("mysql", "SHOW REPLICA STATUS")  # by GTID, not by binlog file and offset
    assert ready(primary)


def test_replicas_refuse_application_writes(primary: Pod, pods: MakePod) -> None:
    copy = replica(pods, primary, 1)
    eventually("the replica ready", lambda: ready(copy))
    with pytest.raises(AssertionError, match="read-only"):
        copy.app().sql("orders", "INSERT INTO notes VALUES (99, 'must not land on a replica')")


def test_a_replica_added_later_catches_up(primary: Pod, pods: MakePod) -> None:
    assert primary.server is not None
    replica(pods, primary, 1)
    many = "SELECT g, 'note ' || g FROM generate_series(1, 500) g"
    if primary.engine == "mariadb":
        many = "SELECT seq, concat('note ', seq) FROM seq_1_to_500"
    primary.server.sql("orders", f"INSERT INTO notes {many}")

    late = server(replica(pods, primary, 2))

    eventually("the late replica", caught_up(late, primary.server))
    primary.server.sql("orders", "UPDATE notes SET note = 'changed' WHERE id = 7")
    eventually("an update on the late replica", lambda: "7\tchanged" in rows(late))


def test_a_replica_whose_primary_is_gone_is_not_ready(primary: Pod, pods: MakePod) -> None:
    copy = replica(pods, primary, 1)
    eventually("replicating", lambda: ready(copy))
    primary.stop()
    eventually("the replica not ready", lambda: not ready(copy))

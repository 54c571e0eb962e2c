"""The failover steps the operator runs in the pods (ha-<engine>.sh), and the old primary's rejoin, on real
servers: a primary and a replica on loopback ports, made as their pods make them. The replica reports how far it
is; the primary is fenced (it takes no more writes and says where it stopped); the replica catches up to that,
is promoted and takes writes; the old primary comes back as a replica of it (its bootstrap, as a replica now:
PostgreSQL rewinds it with pg_rewind, MariaDB makes a fresh copy and keeps the old directory) and has every row."""

import pytest

from database_api.profiles import Engine
from database_operator.primary import parse_position
from tests.servers.conftest import ADMIN_PASSWORD, REPLICATION_PASSWORD, REPLICATION_USER, Pod, run_script
from tests.servers.test_bootstrap import check, rows
from tests.servers.test_replication import MakePod, caught_up, eventually, replica, server, started


def step(pod: Pod, *words: str) -> str:
    """ha-<engine>.sh in the pod's server container, with that container's environment."""
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "ADMIN_USER": "postgres" if pod.engine == "postgresql" else "root"}
    if pod.engine == "postgresql":
        env |= {"RUN_DIR": str(pod.run_dir), "PGDATA": str(pod.data)}
        env |= {"PGPORT": str(server(pod).port)}
        return check(run_script("ha-postgresql.sh", env, user=pod.user, args=words)).stdout
    env |= {"MYSQL_UNIX_PORT": str(pod.run_dir / "mysqld.sock"), "REPLICATION_USER": REPLICATION_USER}
    env |= {"DATADIR": str(pod.data)}
    env |= {"REPLICATION_PASSWORD": REPLICATION_PASSWORD, "PRIMARY_HOST": "127.0.0.1"}
    env |= {"PRIMARY_PORT": str(pod.primary_port)} if pod.primary_port else {}
    return check(run_script("ha-mysql.sh", env, args=words)).stdout


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_replica_is_promoted_and_the_old_primary_rejoins_with_every_row(engine: str, pods: MakePod) -> None:
    old = started(pods(engine))
    server(old).sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    new = replica(pods, old, 1)
    # Written once the replica replicates, so that its binary log has it (log_slave_updates) when promoted.
    server(old).sql("orders", "INSERT INTO notes VALUES (1, 'before')")
    eventually("the replica has the row", caught_up(server(new), server(old)))
    position = parse_position(Engine(engine), step(new, "position"))
    assert position.domains  # a replica, and how far it is
    assert step(old, "position").split() == ["primary"]

    fenced = step(old, "fence").split()
    assert fenced[0] == "fenced"
    step(new, "catch-up", fenced[1])
    step(new, "promote")
    new.set_role("primary")
    assert step(new, "position").split() == ["primary"]
    server(new).sql("orders", "INSERT INTO notes VALUES (2, 'after')")

    # The old pod is deleted; its bootstrap runs again, as a replica now.
    old.set_role("replica")
    old.primary_port = server(new).port
    old.stop()
    check(old.bootstrap())
    old.start()
    if engine == "postgresql":
        assert server(old).sql("postgres", "SELECT pg_is_in_recovery()").strip() == "t"  # rewound
    else:
        # A fresh copy of the new primary; the old directory kept, never deleted.
        assert old.data.with_name(f"{old.data.name}.diverged-1").is_dir()
    eventually("the old primary has every row", lambda: len(rows(server(old))) == 2)
    server(new).sql("orders", "INSERT INTO notes VALUES (3, 'later')")
    eventually("and follows the new one", caught_up(server(old), server(new)))


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_primary_that_finds_its_volume_empty_never_starts_an_empty_database(engine: str, pods: MakePod) -> None:
    """Only a new Database's first primary may initialise (the operator's may-initialise annotation): a primary
    whose volume was lost fails its bootstrap, every time, and leaves nothing behind, until a replica is promoted
    and it copies that one."""
    lost = pods(engine)
    (lost.pod_info / "may-initialise").write_text("")
    for _ in range(2):
        result = lost.bootstrap()
        assert result.returncode != 0 and "has had a primary before" in result.stderr
        assert not lost.data.exists() and not lost.build.exists()


def test_a_fenced_postgresql_primary_does_not_start(pods: MakePod) -> None:
    """start-postgresql.sh: a data directory that is no standby runs only on the pod labelled primary."""
    pod = pods("postgresql")
    check(pod.bootstrap())
    pod.set_role("fenced")
    env = {"PGDATA": str(pod.data), "ROLE_FILE": pod.role_env["ROLE_FILE"]}
    result = run_script("start-postgresql.sh", env, args=("echo", "server started"))
    assert result.returncode == 1 and "fenced" in result.stderr and "server started" not in result.stdout
    pod.set_role("primary")
    assert run_script("start-postgresql.sh", env, args=("echo", "server started")).stdout == "server started\n"

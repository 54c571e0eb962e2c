"""Replication with the program's own configuration and scripts, on real servers: a primary and replicas on
loopback ports. What the pods do in the cluster is done here step by step, as the official images and the
StatefulSet would: first-start init scripts on the primary, the clone init container (PostgreSQL) or init
script (MySQL/MariaDB) on replicas, the start command, the readiness script."""

import os
import shutil
import socket as socket_module
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from database_api.profiles import load_stacks_config
from database_api.spec import resolve_spec
from database_program.context import Credentials, DatabaseContext
from database_program.engines import render_config
from tests.servers.conftest import (
    ADMIN_PASSWORD,
    SCRIPTS,
    Server,
    _as,
    _free_port,
    _own,
    _postgresql_bin,
    _scratch,
    _wait,
    run_script,
)

REPLICATION_USER = "replicator"
REPLICATION_PASSWORD = "r3pl-pa55word-'quoted'"
CATCH_UP_SECONDS = 60


def shipped_config(engine: str) -> str:
    """The configuration file the program renders into a Database's ConfigMap."""
    stacks_config = load_stacks_config()
    raw = {"type": engine, "version": "8.0" if engine == "mysql" else "16", "storage": {"size": "1Gi"}, "replicas": 3}
    spec = resolve_spec(raw, stacks_config)
    ctx = DatabaseContext(
        name="orders",
        namespace="shop",
        spec=spec,
        engine=stacks_config.engine(spec.engine),
        environment=stacks_config.environment(spec.environment),
        credentials=Credentials(admin_password="unused", user_password="unused", replication_password="unused"),
    )
    return render_config(ctx)


def eventually(what: str, probe: Callable[[], bool]) -> None:
    _wait(what, probe, timeout=CATCH_UP_SECONDS)


def check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


# -- PostgreSQL ------------------------------------------------------------------------------------------


@dataclass
class PostgresCluster:
    root: Path
    config: Path
    bin: Path
    servers: list[Server]
    data_dirs: list[Path]

    def start(self, index: int, data: Path) -> Server:
        """Start a server on the shipped config, as the container does (the data directory is ready)."""
        port, sockets = _free_port(), self.root / f"sockets-{index}"
        sockets.mkdir(mode=0o700)
        _own(sockets, "postgres")
        options = f"-c config_file={self.config} -c port={port} -c listen_addresses=127.0.0.1 "
        options += f"-c unix_socket_directories={sockets}"
        check(
            subprocess.run(
                [*_as("postgres"), str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                 str(sockets / "server.log"), "-w", "start"],
                capture_output=True, text=True, check=False,
            )
        )  # fmt: skip
        server = Server("postgresql", port, sockets, "postgres", env={"PGPASSWORD": ADMIN_PASSWORD})
        self.servers.append(server)
        self.data_dirs.append(data)
        return server

    def pod_env(self, index: int, server: Server | None = None) -> dict[str, str]:
        """The database container's environment (statefulset.py), pointed at loopback ports."""
        env = {
            "POD_INDEX": str(index),
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": ADMIN_PASSWORD,
            "REPLICATION_USER": REPLICATION_USER,
            "REPLICATION_PASSWORD": REPLICATION_PASSWORD,
            "PRIMARY_HOST": "127.0.0.1",
            "PRIMARY_PORT": str(self.servers[0].port),
        }
        if server is not None:
            env |= {"PGHOST": str(server.socket_dir), "PGPORT": str(server.port)}
        return env

    def add_replica(self, index: int) -> Server:
        data = self.root / f"data-{index}"
        check(run_script("clone-postgresql.sh", {**self.pod_env(index), "PGDATA": str(data)}, user="postgres"))
        return self.start(index, data)


@pytest.fixture
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A primary initialised as the official image does it, with the program's init scripts."""
    binaries, scratch = _postgresql_bin(), _scratch()
    root = scratch / "postgres"  # the servers create their data directories here
    root.mkdir()
    _own(root, "postgres")
    config = root / "postgresql.conf"
    config.write_text(shipped_config("postgresql"))
    (root / "pwfile").write_text(ADMIN_PASSWORD)
    _own(root / "pwfile", "postgres")
    data = root / "data-0"
    check(
        subprocess.run(
            [*_as("postgres"), str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
             f"--pwfile={root / 'pwfile'}", "--auth-local=trust", "--auth-host=scram-sha-256"],
            capture_output=True, text=True, check=False,
        )
    )  # fmt: skip
    # As in the official image: no replication lines, and one for every database from anywhere.
    hba = data / "pg_hba.conf"
    lines = [line for line in hba.read_text().splitlines() if "replication" not in line]
    hba.write_text("\n".join([*lines, "host all all all scram-sha-256", ""]))
    cluster = PostgresCluster(root, config, binaries, [], [])
    primary = cluster.start(0, data)
    try:
        primary.sql("postgres", "CREATE DATABASE orders")
        env = {**cluster.pod_env(0, primary), "PGDATA": str(data)}
        app = {"POSTGRES_DB": "orders", "APP_USER": "app", "APP_PASSWORD": "app-pw"}
        check(run_script("init-postgresql-app-user.sh", {**env, **app}, user="postgres"))
        check(run_script("init-postgresql-replication.sh", env, user="postgres"))
        # The image restarts the server after its init scripts; a reload is enough for pg_hba.conf.
        check(subprocess.run([*_as("postgres"), str(binaries / "pg_ctl"), "-D", str(data), "reload"], check=False))
        yield cluster
    finally:
        for data_dir in cluster.data_dirs:
            subprocess.run(
                [*_as("postgres"), str(binaries / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"],
                capture_output=True, check=False,
            )  # fmt: skip
        shutil.rmtree(scratch, ignore_errors=True)


def rows(server: Server) -> list[str]:
    """The test table's rows, in order."""
    return server.sql("orders", "SELECT id, note FROM notes ORDER BY id").split("\n")[:-1]


def caught_up(replica: Server, primary: Server) -> Callable[[], bool]:
    return lambda: rows(replica) == rows(primary)


def ready(engine: str, env: dict[str, str]) -> bool:
    """What the readiness probe says (ready-<engine>.sh)."""
    return run_script(f"ready-{engine}.sh", env).returncode == 0


def test_postgresql_rows_written_on_the_primary_appear_on_replicas(postgres_cluster: PostgresCluster) -> None:
    primary = postgres_cluster.servers[0]
    primary.sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    primary.sql("orders", "INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 100) g")

    replica = postgres_cluster.add_replica(1)

    eventually("the first rows on the replica", lambda: len(rows(replica)) == 100)
    primary.sql("orders", "INSERT INTO notes VALUES (101, 'written after the replica started')")
    eventually("a later row on the replica", caught_up(replica, primary))
    assert replica.sql("postgres", "SELECT pg_is_in_recovery()").strip() == "t"
    assert ready("postgresql", postgres_cluster.pod_env(1, replica))
    assert ready("postgresql", postgres_cluster.pod_env(0, primary))
    with pytest.raises(AssertionError, match="read-only transaction"):
        replica.sql("orders", "INSERT INTO notes VALUES (999, 'must not land on a replica')")


def test_postgresql_a_replica_added_later_catches_up(postgres_cluster: PostgresCluster) -> None:
    primary = postgres_cluster.servers[0]
    primary.sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    postgres_cluster.add_replica(1)
    primary.sql("orders", "INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 500) g")

    late = postgres_cluster.add_replica(2)

    eventually("the late replica", caught_up(late, primary))
    assert ready("postgresql", postgres_cluster.pod_env(2, late))


def test_postgresql_clone_leaves_the_primary_and_existing_data_alone(postgres_cluster: PostgresCluster) -> None:
    primary_data = postgres_cluster.data_dirs[0]
    env = {**postgres_cluster.pod_env(0), "PGDATA": str(primary_data)}
    assert "pod 0 is the primary" in check(run_script("clone-postgresql.sh", env, user="postgres")).stdout
    replica = postgres_cluster.add_replica(1)
    env = {**postgres_cluster.pod_env(1), "PGDATA": str(postgres_cluster.data_dirs[1])}
    assert "has data already" in check(run_script("clone-postgresql.sh", env, user="postgres")).stdout
    assert replica.sql("postgres", "SELECT pg_is_in_recovery()").strip() == "t"


def test_postgresql_a_replica_that_is_not_streaming_is_not_ready(postgres_cluster: PostgresCluster) -> None:
    replica = postgres_cluster.add_replica(1)
    eventually("streaming", lambda: ready("postgresql", postgres_cluster.pod_env(1, replica)))
    primary_data = postgres_cluster.data_dirs[0]
    check(
        subprocess.run(
            [*_as("postgres"), str(postgres_cluster.bin / "pg_ctl"), "-D", str(primary_data), "-m", "fast", "stop"],
            capture_output=True, check=False,
        )
    )  # fmt: skip
    eventually("the replica not ready", lambda: not ready("postgresql", postgres_cluster.pod_env(1, replica)))


# -- MySQL (MariaDB from Debian) --------------------------------------------------------------------------


@dataclass
class MariaDBCluster:
    root: Path
    config: Path
    servers: list[Server]
    processes: list[subprocess.Popen[bytes]]

    @property
    def user(self) -> str:
        return "mysql" if os.geteuid() == 0 else os.environ.get("USER", "nobody")

    def pod_env(self, index: int, server: Server | None = None) -> dict[str, str]:
        """The database container's environment (statefulset.py), pointed at loopback ports."""
        env = {
            "POD_INDEX": str(index),
            "MYSQL_ROOT_PASSWORD": ADMIN_PASSWORD,
            "REPLICATION_USER": REPLICATION_USER,
            "REPLICATION_PASSWORD": REPLICATION_PASSWORD,
        }
        if self.servers:
            env |= {"PRIMARY_HOST": "127.0.0.1", "PRIMARY_PORT": str(self.servers[0].port)}
        if server is not None:
            socket = str(server.socket_dir / "mysqld.sock")
            # Init scripts use the socket; the readiness script TCP on 127.0.0.1 (MYSQL_TCP_PORT).
            env |= {"MYSQL_SOCKET": socket, "MYSQL_TCP_PORT": str(server.port)}
        return env

    def start(self, index: int) -> Server:
        """A pod's first start: an empty data directory, the server started by start-mysql.sh on the shipped
        config, the root accounts the official image leaves (localhost and %), then the replication init script."""
        port, data, sockets = _free_port(), self.root / f"data-{index}", self.root / f"sockets-{index}"
        for directory in (data, sockets):
            directory.mkdir()
            _own(directory, "mysql")
        check(
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={data}", f"--user={self.user}",
                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                capture_output=True, text=True, check=False,
            )
        )  # fmt: skip
        socket = sockets / "mysqld.sock"
        server_command = [
            "/usr/sbin/mariadbd", f"--defaults-file={self.config}", f"--datadir={data}", f"--port={port}",
            "--bind-address=127.0.0.1", f"--socket={socket}", f"--pid-file={sockets / 'mysqld.pid'}",
            f"--log-error={sockets / 'error.log'}", f"--user={self.user}", "--skip-name-resolve",
        ]  # fmt: skip
        env = {"PATH": os.environ["PATH"], "POD_INDEX": str(index)}
        self.processes.append(subprocess.Popen(["sh", str(SCRIPTS / "start-mysql.sh"), *server_command], env=env))
        local = ["mariadb", f"--socket={socket}", "-u", "root"]
        answers = [*local, "-e", "SELECT 1"]
        _wait("MariaDB", lambda: subprocess.run(answers, capture_output=True, check=False).returncode == 0)
        check(
            subprocess.run(
                [*local, "-e", f"ALTER USER root@localhost IDENTIFIED BY '{ADMIN_PASSWORD}';"
                 f"DROP USER root@'127.0.0.1', root@'::1', root@'{socket_module.gethostname()}';"
                 f"CREATE USER root@'%' IDENTIFIED BY '{ADMIN_PASSWORD}';"
                 "GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;"],
                capture_output=True, text=True, check=False,
            )
        )  # fmt: skip
        server = Server("mariadb", port, sockets, "root", env={"MYSQL_PWD": ADMIN_PASSWORD})
        check(run_script("init-mysql-replication.sh", self.pod_env(index, server)))
        self.servers.append(server)
        return server


@pytest.fixture
def mariadb_cluster() -> Iterator[MariaDBCluster]:
    if shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None:
        pytest.fail("MariaDB is not installed (Debian package mariadb-server; scripts/test installs it)")
    root = _scratch()
    config = root / "database.cnf"
    config.write_text(shipped_config("mysql"))
    cluster = MariaDBCluster(root, config, [], [])
    try:
        cluster.start(0)
        yield cluster
    finally:
        for process in cluster.processes:
            process.terminate()
            process.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_mysql_rows_written_on_the_primary_appear_on_replicas(mariadb_cluster: MariaDBCluster) -> None:
    primary = mariadb_cluster.servers[0]
    primary.sql("mysql", "CREATE DATABASE orders; CREATE TABLE orders.notes (id int PRIMARY KEY, note text)")
    primary.sql("orders", "INSERT INTO notes VALUES (1, 'one'), (2, 'two'), (3, 'three')")

    replica = mariadb_cluster.start(1)

    eventually("the first rows on the replica", lambda: len(rows(replica)) == 3)
    primary.sql("orders", "INSERT INTO notes VALUES (4, 'written after the replica started')")
    eventually("a later row on the replica", caught_up(replica, primary))
    assert "Slave_Pos" in replica.sql("mysql", "SHOW REPLICA STATUS")  # by GTID, not by binlog file and offset
    assert ready("mysql", mariadb_cluster.pod_env(1, replica))
    assert ready("mysql", mariadb_cluster.pod_env(0, primary))


def test_mysql_replicas_refuse_application_writes(mariadb_cluster: MariaDBCluster) -> None:
    primary = mariadb_cluster.servers[0]
    primary.sql("mysql", "CREATE DATABASE orders; CREATE TABLE orders.notes (id int PRIMARY KEY, note text)")
    primary.sql("mysql", "CREATE USER app@'%' IDENTIFIED BY 'app-pw'; GRANT ALL ON orders.* TO app@'%'")
    replica = mariadb_cluster.start(1)
    eventually("the application user on the replica", lambda: "app" in replica.sql("mysql", "SELECT user FROM user"))

    app = Server("mariadb", replica.port, replica.socket_dir, "app", env={"MYSQL_PWD": "app-pw"})
    with pytest.raises(AssertionError, match="read-only"):
        app.sql("orders", "INSERT INTO notes VALUES (1, 'must not land on a replica')")


def test_mysql_a_replica_added_later_catches_up(mariadb_cluster: MariaDBCluster) -> None:
    primary = mariadb_cluster.servers[0]
    primary.sql("mysql", "CREATE DATABASE orders; CREATE TABLE orders.notes (id int PRIMARY KEY, note text)")
    mariadb_cluster.start(1)
    primary.sql("orders", "INSERT INTO notes SELECT seq, concat('note ', seq) FROM seq_1_to_500")

    late = mariadb_cluster.start(2)

    eventually("the late replica", caught_up(late, primary))
    primary.sql("orders", "UPDATE notes SET note = 'changed' WHERE id = 7")
    eventually("an update on the late replica", lambda: "7\tchanged" in rows(late))
    assert ready("mysql", mariadb_cluster.pod_env(2, late))


def test_mysql_a_replica_whose_primary_is_gone_is_not_ready(mariadb_cluster: MariaDBCluster) -> None:
    replica = mariadb_cluster.start(1)
    eventually("replicating", lambda: ready("mysql", mariadb_cluster.pod_env(1, replica)))
    mariadb_cluster.processes[0].terminate()
    mariadb_cluster.processes[0].wait(timeout=60)
    eventually("the replica not ready", lambda: not ready("mysql", mariadb_cluster.pod_env(1, replica)))

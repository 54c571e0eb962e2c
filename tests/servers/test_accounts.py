"""Accounts with one job each, on real servers made by the program's own bootstrap: the superuser only on the local
socket, the exporter with monitoring grants only, the backup account reading but never writing, the replication
account replicating only, the application user in its own database only; a Database made before these accounts
gets them on its next start; and no password ever appears on a command line of any tool the scripts run."""

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.conftest import (
    ADMIN_PASSWORD,
    BACKUP_PASSWORD,
    BACKUP_USER,
    EXPORTER_PASSWORD,
    EXPORTER_USER,
    PASSWORDS,
    REPLICATION_PASSWORD,
    REPLICATION_USER,
    Pod,
    Server,
    _own,
    _scratch,
    run_script,
)
from tests.servers.test_bootstrap import check, rows

MakePod = Callable[..., Pod]
ENGINES = ["postgresql", "mariadb"]
ADMIN_USER = {"postgresql": "postgres", "mariadb": "root"}
MONITORING_DATABASE = {"postgresql": "postgres", "mariadb": "performance_schema"}
MONITORING_QUERY = {
    "postgresql": "SELECT count(*) > 0 FROM pg_stat_activity",
    "mariadb": "SELECT VARIABLE_VALUE >= 1 FROM information_schema.GLOBAL_STATUS"
    " WHERE VARIABLE_NAME = 'THREADS_CONNECTED'",
}
# Everything the pods' and Jobs' scripts run that could ever be handed a password.
TOOLS = [
    "psql", "pg_isready", "pg_basebackup", "pg_dump", "pg_restore", "pg_ctl", "initdb",
    "mariadb", "mariadb-dump", "mariadbd", "mariadb-install-db", "gzip", "gunzip", "sed",
]  # fmt: skip


def refused(client: Server, database: str, statement: str) -> str:
    """The error `statement` fails with (the test fails if it succeeds)."""
    with pytest.raises(AssertionError) as error:
        client.sql(database, statement)
    return str(error.value)


def serving(pod: Pod) -> Server:
    """Pod 0 bootstrapped and started, with a table of the application's and one row."""
    check(pod.bootstrap())
    server = pod.start()
    pod.app().sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    pod.app().sql("orders", "INSERT INTO notes VALUES (1, 'the application''s')")
    return server


@pytest.mark.parametrize("engine", ENGINES)
def test_each_account_does_its_job_and_nothing_else(engine: str, pods: MakePod) -> None:
    pod = pods(engine)
    serving(pod)
    admin_over_tcp = pod.client(ADMIN_USER[engine], ADMIN_PASSWORD)
    exporter = pod.client(EXPORTER_USER, EXPORTER_PASSWORD)
    backup = pod.client(BACKUP_USER, BACKUP_PASSWORD)
    replication = pod.client(REPLICATION_USER, REPLICATION_PASSWORD)
    other_database = "postgres" if engine == "postgresql" else "mysql"

    refused(admin_over_tcp, other_database, "SELECT 1")  # the superuser: local socket only
    assert pod.server is not None and pod.server.sql(other_database, "SELECT 1").strip() == "1"  # ... where it works

    assert exporter.sql(MONITORING_DATABASE[engine], MONITORING_QUERY[engine]).strip() in {"t", "1"}
    assert "denied" in refused(exporter, "orders", "SELECT * FROM notes")

    assert rows(backup) == ["1\tthe application's"]
    for statement in (
        "INSERT INTO notes VALUES (2, 'by the backup account')",
        "UPDATE notes SET note = 'changed'",
        "DELETE FROM notes",
        "CREATE TABLE other (id int)",
        "DROP TABLE notes",
    ):
        # PostgreSQL: past the account's read-only default, to the privileges themselves.
        writing = f"BEGIN READ WRITE; {statement}; COMMIT" if engine == "postgresql" else statement
        error = refused(backup, "orders", writing)
        assert "denied" in error or "must be owner" in error, statement  # privileges, not a typo
    assert rows(pod.app()) == ["1\tthe application's"]

    refused(replication, "orders", "SELECT * FROM notes")
    refused(pod.app(), other_database, "SELECT * FROM pg_authid" if engine == "postgresql" else "SELECT * FROM user")


def _as_before_these_accounts(pod: Pod) -> None:
    """What an earlier version left: no exporter or backup account, the superuser open over the network."""
    assert pod.server is not None
    if pod.engine == "postgresql":
        pod.server.sql("postgres", f"DROP ROLE {EXPORTER_USER}")
        pod.server.sql("postgres", f"DROP ROLE {BACKUP_USER}")
        hba = pod.data / "pg_hba.conf"
        hba.write_text("local all all trust\nhost replication all all scram-sha-256\nhost all all all scram-sha-256\n")
        pod.server.sql("postgres", "SELECT pg_reload_conf()")
    else:
        pod.server.sql("mysql", f"DROP USER '{EXPORTER_USER}'@'127.0.0.1', '{BACKUP_USER}'@'%'")
        pod.server.sql("mysql", f"CREATE USER 'root'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'")
        pod.server.sql("mysql", "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_database_made_before_these_accounts_gets_them_on_its_next_start(engine: str, pods: MakePod) -> None:
    pod = pods(engine)
    serving(pod)
    _as_before_these_accounts(pod)
    pod.client(ADMIN_USER[engine], ADMIN_PASSWORD).sql("orders", "SELECT 1")  # open, as it was
    pod.stop()

    again = check(pod.bootstrap())
    assert "holds a complete database" in again.stdout
    assert all(password not in again.stdout + again.stderr for password in PASSWORDS)
    pod.start()
    assert rows(pod.client(BACKUP_USER, BACKUP_PASSWORD)) == ["1\tthe application's"]
    other_database = "postgres" if engine == "postgresql" else "mysql"
    exporter = pod.client(EXPORTER_USER, EXPORTER_PASSWORD)
    assert exporter.sql(MONITORING_DATABASE[engine], MONITORING_QUERY[engine]).strip() in {"t", "1"}
    refused(pod.client(ADMIN_USER[engine], ADMIN_PASSWORD), other_database, "SELECT 1")
    assert rows(pod.app()) == ["1\tthe application's"]


def _recording_tools(root: Path) -> tuple[str, Path]:
    """A PATH whose TOOLS write their command line to a log before running the real tool; the log."""
    wrappers, log = root / "tools", root / "command-lines.log"
    wrappers.mkdir()
    log.touch()
    log.chmod(0o666)  # the scripts run as the servers' system users
    for tool in TOOLS:
        real = shutil.which(tool)
        if real is None:
            continue
        wrapper = wrappers / tool
        wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0 $*" >> {log}\nexec {real} "$@"\n')
        wrapper.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return f"{wrappers}:{os.environ['PATH']}", log


@pytest.mark.parametrize("engine", ENGINES)
def test_no_password_is_ever_on_a_command_line(engine: str, pods: MakePod) -> None:
    """Bootstrap of the primary and of a replica (its copy of the primary), readiness, a backup as the backup
    account and a restore: every tool they run is recorded with its arguments, and none carries a password."""
    root = _scratch()
    path, log = _recording_tools(root)
    primary = pods(engine)
    check(primary.bootstrap(PATH=path))
    server = primary.start()
    primary.app().sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    replica = pods(engine, index=1, primary_port=server.port)
    check(replica.bootstrap(PATH=path))
    replica.start()
    for pod in (primary, replica):
        ready_env = {"PATH": path, **pod.role_env, "ADMIN_USER": ADMIN_USER[engine]}
        ready_env |= {"ADMIN_PASSWORD": ADMIN_PASSWORD, "RUN_DIR": str(pod.run_dir)}
        ready_env |= {"PGPORT": str(pod.server.port), "MYSQL_UNIX_PORT": str(pod.run_dir / "mysqld.sock")}
        check(run_script(f"ready-{'postgresql' if engine == 'postgresql' else 'mysql'}.sh", ready_env))

    backups = root / "backups"
    backups.mkdir()
    _own(backups, primary.user)
    backup_env = {
        "PATH": path,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(server.port),
        "DB_NAME": "orders",
        "DB_USER": BACKUP_USER,
        "DB_PASSWORD": BACKUP_PASSWORD,
        "BACKUP_DIR": str(backups),
        "RETENTION_MINUTES": "10080",
        "BACKUP_NAME": "checked",
        "TERMINATION_LOG": str(root / "termination-log"),
    }
    family = "postgresql" if engine == "postgresql" else "mysql"
    check(run_script(f"backup-{family}.sh", backup_env, user=primary.user))
    [dump] = backups.iterdir()
    restored = pods(engine)
    check(restored.bootstrap(PATH=path, RESTORE_FILE=str(dump)))

    recorded = log.read_text()
    copy_tool = "pg_basebackup" if engine == "postgresql" else "mariadb-dump"
    dump_tool = "pg_dump" if engine == "postgresql" else "mariadb-dump"
    restore_tool = "pg_restore" if engine == "postgresql" else "mariadb"
    for tool in (copy_tool, dump_tool, restore_tool):
        assert f"/{tool} " in recorded, f"{tool} was not recorded: the check would see nothing"
    for password in PASSWORDS:
        # Also as SQL would quote it: the part before its first quote is unique to it.
        assert password not in recorded and password.split("'")[0] not in recorded
    shutil.rmtree(root, ignore_errors=True)

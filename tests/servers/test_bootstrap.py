"""The bootstrap init container (bootstrap-<engine>.sh) against real servers: a fresh database has its accounts
and survives a second start untouched; a killed or failed bootstrap leaves no data directory behind, so the server
never starts on a partial one; a corrupt dump fails every attempt; a good dump is there for the application."""

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.conftest import (
    ADMIN_PASSWORD,
    PASSWORDS,
    SCRIPTS,
    Pod,
    Server,
    _as,
    _own,
    _postgresql_bin,
    run_script,
)

MakePod = Callable[..., Pod]
ENGINES = ["postgresql", "mariadb"]
DUMP_SUFFIX = {"postgresql": ".dump", "mariadb": ".sql.gz"}
BACKUP_SCRIPT = {"postgresql": "backup-postgresql.sh", "mariadb": "backup-mysql.sh"}


def rows(server: Server) -> list[str]:
    return server.sql("orders", "SELECT id, note FROM notes ORDER BY id").split("\n")[:-1]


def check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fresh_database_has_its_accounts_and_a_second_start_changes_nothing(engine: str, pods: MakePod) -> None:
    pod = pods(engine)
    first = check(pod.bootstrap())
    assert pod.data.is_dir() and not pod.build.exists()
    for password in PASSWORDS:
        assert password not in first.stdout + first.stderr

    pod.start()
    app = pod.app()
    app.sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    app.sql("orders", "INSERT INTO notes VALUES (1, 'kept across restarts')")
    pod.stop()

    second = check(pod.bootstrap())
    assert "holds a complete database" in second.stdout
    pod.start()
    assert rows(pod.app()) == ["1\tkept across restarts"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_bootstrap_leaves_no_data_directory_and_the_next_one_succeeds(engine: str, pods: MakePod) -> None:
    pod = pods(engine)
    script = "bootstrap-postgresql.sh" if engine == "postgresql" else "bootstrap-mysql.sh"
    # Killed once the new system database exists, half-way: as when the kubelet kills the init container.
    started = pod.build / ("PG_VERSION" if engine == "postgresql" else "mysql")
    bootstrap = subprocess.Popen(
        [*_as(pod.user), "sh", str(SCRIPTS / script)],
        env={"PATH": os.environ["PATH"], **pod.bootstrap_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not started.exists() and bootstrap.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bootstrap.poll() is None, "the bootstrap ended before it could be killed"
    os.killpg(bootstrap.pid, signal.SIGKILL)
    bootstrap.wait()
    _kill_temporary_server(pod)

    assert not pod.data.exists(), "a killed bootstrap must not leave a data directory the server would start on"
    check(pod.bootstrap())
    pod.start()
    pod.app().sql("orders", "SELECT 1")


def _kill_temporary_server(pod: Pod) -> None:
    """The container's death takes every process in it, the temporary server too (which pg_ctl detaches)."""
    for pid_file in (pod.build / "postmaster.pid", pod.run_dir / "bootstrap.pid"):
        deadline = time.monotonic() + 5
        while pid_file.exists() and time.monotonic() < deadline:
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                break
            except (ValueError, IndexError):  # being written
                time.sleep(0.05)
            except ProcessLookupError:
                break


@pytest.fixture
def dump(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, Pod], Path]:
    """dump(engine, pod) -> a real backup of a database with a `notes` table (3 rows), where the pod can read it."""

    def _dump(engine: str, pod: Pod) -> Path:
        source: Server = request.getfixturevalue(engine)
        database = f"db_{uuid.uuid4().hex[:10]}"
        source.sql("postgres" if engine == "postgresql" else "mysql", f"CREATE DATABASE {database}")
        source.sql(database, "CREATE TABLE notes (id int PRIMARY KEY, note text)")
        source.sql(database, "INSERT INTO notes VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        backups = tmp_path / "backups"
        backups.mkdir()
        check(run_script(BACKUP_SCRIPT[engine], source.backup_env(database, backups, BACKUP_NAME="source")))
        copy = pod.run_dir / f"source{DUMP_SUFFIX[engine]}"
        copy.write_bytes((backups / copy.name).read_bytes())
        _own(copy, pod.user)
        return copy

    return _dump


@pytest.mark.parametrize("engine", ENGINES)
def test_a_restore_loads_the_dump_for_the_application(
    engine: str, pods: MakePod, dump: Callable[[str, Pod], Path]
) -> None:
    pod = pods(engine)
    restored = check(pod.bootstrap(RESTORE_FILE=str(dump(engine, pod))))
    assert "(1 tables)" in restored.stdout
    pod.start()
    assert rows(pod.app()) == ["1\tone", "2\ttwo", "3\tthree"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_corrupt_dump_fails_every_bootstrap_and_no_server_can_start(
    engine: str, pods: MakePod, dump: Callable[[str, Pod], Path]
) -> None:
    pod = pods(engine)
    good = dump(engine, pod)
    corrupt = good.with_name(f"corrupt{DUMP_SUFFIX[engine]}")
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _own(corrupt, pod.user)

    for _attempt in range(2):  # the kubelet runs the init container again, and again it refuses
        failed = pod.bootstrap(RESTORE_FILE=str(corrupt))
        assert failed.returncode != 0
        assert not pod.data.exists()
        assert pod.termination_log.read_text().startswith(f"bootstrap failed while restoring {corrupt}")
        for password in PASSWORDS:
            assert password not in failed.stdout + failed.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_a_directory_that_is_not_a_database_is_left_alone(engine: str, pods: MakePod) -> None:
    pod = pods(engine)
    pod.data.mkdir()
    _own(pod.data, pod.user)
    (pod.data / "notes.txt").write_text("someone's file")

    refused = pod.bootstrap()

    assert refused.returncode != 0 and "neither empty nor a database" in refused.stderr
    assert (pod.data / "notes.txt").read_text() == "someone's file"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_database_made_before_the_bootstrap_is_adopted_as_it_is(engine: str, pods: MakePod) -> None:
    """A data directory an image's entrypoint initialised (no marker) is kept, never rebuilt over."""
    pod = pods(engine)
    if engine == "postgresql":
        initdb = [str(_postgresql_bin() / "initdb"), "-D", str(pod.data), "-U", "postgres"]
    else:
        initdb = ["mariadb-install-db", "--no-defaults", f"--datadir={pod.data}", "--skip-test-db",
                  "--auth-root-authentication-method=normal"]  # fmt: skip
    check(subprocess.run([*_as(pod.user), *initdb], capture_output=True, text=True, check=False))
    if engine == "mariadb":  # as the image's entrypoint does: root@localhost gets the Secret's admin password
        statements = f"FLUSH PRIVILEGES;\nALTER USER root@localhost IDENTIFIED BY '{ADMIN_PASSWORD}';\n"
        server = [*_as(pod.user), "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={pod.data}", "--bootstrap"]
        check(subprocess.run(server, input=statements, capture_output=True, text=True, check=False))
    before = sorted(path.name for path in pod.data.iterdir())

    adopted = check(pod.bootstrap())

    assert "adopted as it is" in adopted.stdout
    # Nothing rebuilt: every file is still there (the accounts step's temporary server may add its own).
    assert {*before, ".bootstrap-complete"} <= {path.name for path in pod.data.iterdir()}
    assert "holds a complete database" in check(pod.bootstrap()).stdout

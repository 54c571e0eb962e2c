"""The shipped backup and restore scripts against real servers: dumps restore to identical contents, retention
prunes by age, failures exit non-zero and leave nothing that looks like a backup, passwords never printed."""

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.conftest import ADMIN_PASSWORD, Server, run_script


@dataclass(frozen=True)
class EngineScripts:
    backup: str
    restore: str
    suffix: str
    schema: str
    """Creates the table `orders` (500 known rows) and the view `big_orders`."""
    contents: tuple[str, ...]
    """Queries whose results must survive a backup and restore unchanged."""


POSTGRESQL = EngineScripts(
    backup="backup-postgresql.sh",
    restore="restore-postgresql.sh",
    suffix=".dump",
    schema="""
        CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note text,
                             placed timestamptz NOT NULL);
        INSERT INTO orders (customer, amount, note, placed)
          SELECT 'customer ' || i, i * 1.25,
                 CASE WHEN i % 3 = 0 THEN NULL ELSE 'ünïcødé ''quoted'' ' || repeat(md5(i::text), 4) END,
                 timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour'
          FROM generate_series(1, 500) AS i;
        CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 500;
    """,
    contents=(
        "SELECT * FROM orders ORDER BY id",
        "SELECT * FROM big_orders ORDER BY id",
        "SELECT last_value FROM orders_id_seq",
    ),
)
MARIADB = EngineScripts(
    backup="backup-mysql.sh",
    restore="restore-mysql.sh",
    suffix=".sql.gz",
    schema="""
        CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(100) NOT NULL,
                             amount DECIMAL(10,2), note TEXT, placed DATETIME NOT NULL) DEFAULT CHARSET=utf8mb4;
        INSERT INTO orders (customer, amount, note, placed)
          WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 500)
          SELECT CONCAT('customer ', i), i * 1.25,
                 IF(i % 3 = 0, NULL, CONCAT('ünïcødé ''quoted'' ', REPEAT(MD5(i), 4))),
                 TIMESTAMP '2026-01-01 00:00:00' + INTERVAL i HOUR
          FROM seq;
        CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 500;
    """,
    contents=(
        "SELECT * FROM orders ORDER BY id",
        "SELECT * FROM big_orders ORDER BY id",
        "SELECT AUTO_INCREMENT FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders'",
    ),
)
ENGINES = {"postgresql": POSTGRESQL, "mariadb": MARIADB}


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> tuple[Server, EngineScripts]:
    server: Server = request.getfixturevalue(request.param)
    return server, ENGINES[request.param]


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    """The backup volume, as the Job mounts it; the script's termination log goes beside it."""
    directory = tmp_path / "backups"
    directory.mkdir()
    return directory


def new_database(server: Server, schema: str = "") -> str:
    name = f"db_{uuid.uuid4().hex[:10]}"
    server.sql("postgres" if server.engine == "postgresql" else "mysql", f"CREATE DATABASE {name}")
    if schema:
        server.sql(name, schema)
    return name


def contents(server: Server, scripts: EngineScripts, database: str) -> list[str]:
    return [server.sql(database, query) for query in scripts.contents]


def artifacts(directory: Path) -> list[str]:
    """Files that look like backups: everything but hidden partial files."""
    return sorted(path.name for path in directory.iterdir() if not path.name.startswith("."))


def restore_env(server: Server, database: str, dump: Path) -> dict[str, str]:
    """What bootstrap-<engine>.sh gives the restore script while its temporary server listens on a socket only."""
    if server.engine == "postgresql":
        app_user = f"app_{uuid.uuid4().hex[:8]}"
        # The bootstrap creates the application user and gives it the database before the restore.
        server.sql("postgres", f"CREATE ROLE {app_user} LOGIN")
        server.sql("postgres", f"ALTER DATABASE {database} OWNER TO {app_user}")
        return {
            "ADMIN_USER": "postgres",
            "DATABASE": database,
            "APP_USER": app_user,
            "PGHOST": str(server.socket_dir),
            "PGPORT": str(server.port),
            "RESTORE_FILE": str(dump),
        }
    return {
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DATABASE": database,
        "MYSQL_SOCKET": str(server.socket_dir / "mysqld.sock"),
        "RESTORE_FILE": str(dump),
    }


def test_a_dump_restores_to_identical_contents(
    engine: tuple[Server, EngineScripts], tmp_path: Path, backups: Path
) -> None:
    server, scripts = engine
    source = new_database(server, scripts.schema)

    backup = run_script(scripts.backup, server.backup_env(source, backups))

    assert backup.returncode == 0, backup.stderr
    [artifact] = artifacts(backups)
    assert artifact.startswith("scheduled-") and artifact.endswith(scripts.suffix)
    dump = backups / artifact
    assert json.loads((tmp_path / "termination-log").read_text()) == {
        "artifact": str(dump),
        "size": dump.stat().st_size,
    }
    assert not [path for path in backups.iterdir() if path.name.startswith(".partial")]
    assert ADMIN_PASSWORD not in backup.stdout + backup.stderr
    assert dump.stat().st_mode & 0o077 == 0  # dumps are private to the backup user

    target = new_database(server)
    env = restore_env(server, target, dump)
    restored = run_script(scripts.restore, env)
    assert restored.returncode == 0, restored.stderr
    assert contents(server, scripts, target) == contents(server, scripts, source)
    assert len(server.sql(target, "SELECT id FROM orders").split()) == 500
    if server.engine == "postgresql":  # owned by the new database's application user, not the source's
        owner = server.sql(target, "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'").strip()
        assert owner == env["APP_USER"]


def test_an_on_demand_backup_has_its_name_and_is_never_overwritten(
    engine: tuple[Server, EngineScripts], backups: Path
) -> None:
    server, scripts = engine
    source = new_database(server, scripts.schema)
    env = server.backup_env(source, backups, BACKUP_NAME="before-migration")

    assert run_script(scripts.backup, env).returncode == 0
    first = (backups / f"before-migration{scripts.suffix}").read_bytes()
    again = run_script(scripts.backup, env)

    assert again.returncode != 0 and "is never overwritten" in again.stderr
    assert (backups / f"before-migration{scripts.suffix}").read_bytes() == first
    assert run_script(scripts.backup, {**env, "BACKUP_NAME": "../escape"}).returncode != 0


def age(path: Path, days: float) -> None:
    path.write_bytes(b"old")
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))


def test_retention_prunes_only_scheduled_dumps_older_than_it(
    engine: tuple[Server, EngineScripts], backups: Path
) -> None:
    server, scripts = engine
    source = new_database(server, scripts.schema)
    suffix = scripts.suffix
    age(backups / f"scheduled-20260101T020000Z{suffix}", days=8)
    age(backups / f"scheduled-20260108T020000Z{suffix}", days=2)
    age(backups / f"before-migration{suffix}", days=30)  # on-demand: kept until its owner removes it
    age(backups / f".partial-scheduled-20260101T020000Z{suffix}", days=3)  # left by a killed run
    age(backups / f".partial-running{suffix}", days=0)  # another run, in progress

    result = run_script(scripts.backup, server.backup_env(source, backups, RETENTION_MINUTES=str(7 * 24 * 60)))

    assert result.returncode == 0, result.stderr
    names = sorted(path.name for path in backups.iterdir())
    assert f"scheduled-20260101T020000Z{suffix}" not in names
    assert f".partial-scheduled-20260101T020000Z{suffix}" not in names
    assert {f"scheduled-20260108T020000Z{suffix}", f"before-migration{suffix}", f".partial-running{suffix}"} <= set(
        names
    )
    assert len([name for name in names if name.startswith("scheduled-")]) == 2  # the recent one and the new one
    assert f"scheduled-20260101T020000Z{suffix}" in result.stdout  # what was pruned is logged


@pytest.mark.parametrize("failure", ["wrong password", "server down", "disk full"])
def test_a_failed_backup_exits_non_zero_and_leaves_nothing_that_looks_valid(
    engine: tuple[Server, EngineScripts], tmp_path: Path, backups: Path, failure: str
) -> None:
    server, scripts = engine
    source = new_database(server, scripts.schema)
    env = server.backup_env(source, backups)
    limit = None
    if failure == "wrong password":
        env["DB_PASSWORD"] = "not-the-password"
    elif failure == "server down":
        env["DB_PORT"] = str(_closed_port())
        env["SERVER_WAIT_TRIES"] = "1"  # no policy engine here to wait for
    else:
        limit = 8  # KiB: the dump does not fit

    result = run_script(scripts.backup, env, limit_file_kib=limit)

    assert result.returncode != 0
    assert artifacts(backups) == []
    assert list(backups.iterdir()) == []  # no partial file either
    assert not (tmp_path / "termination-log").exists()
    assert env["DB_PASSWORD"] not in result.stdout + result.stderr


def _closed_port() -> int:
    from tests.servers.conftest import _free_port  # noqa: PLC0415

    return _free_port()  # bound and released: nothing listens there


def test_a_missing_or_corrupt_dump_fails_the_restore(
    engine: tuple[Server, EngineScripts], tmp_path: Path, backups: Path
) -> None:
    server, scripts = engine
    target = new_database(server)
    missing = run_script(scripts.restore, restore_env(server, target, tmp_path / f"nothing{scripts.suffix}"))
    assert missing.returncode != 0 and "not found" in missing.stderr

    source = new_database(server, scripts.schema)
    assert run_script(scripts.backup, server.backup_env(source, backups)).returncode == 0
    [artifact] = artifacts(backups)
    corrupt = tmp_path / f"corrupt{scripts.suffix}"
    corrupt.write_bytes((backups / artifact).read_bytes()[: (backups / artifact).stat().st_size // 2])
    assert run_script(scripts.restore, restore_env(server, new_database(server), corrupt)).returncode != 0

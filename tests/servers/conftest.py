"""Real PostgreSQL and MariaDB servers from the Debian packages, on loopback ports in scratch directories, to run
the program's own scripts against. Servers run as the packages' system users when the tests run as root."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "program" / "database_program" / "scripts"
ADMIN_PASSWORD = "s3cret-Admin-pw"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as(user: str) -> list[str]:
    """Run as the package's system user when we are root (neither server runs as root)."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _own(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user, user)


def _wait(what: str, ready: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not start within {timeout:.0f}s")


def run_script(
    name: str, env: dict[str, str], limit_file_kib: int | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One of the program's shipped scripts, as its container runs it (`sh <script>`), with only `env` set.
    `limit_file_kib` caps the size of any file it writes (a full disk, as far as the script can tell); `user`
    is the system user it runs as (when we are root)."""
    command = [*(_as(user) if user else []), "sh", str(SCRIPTS / name)]
    if limit_file_kib is not None:
        command = ["sh", "-c", f'ulimit -f {limit_file_kib} && exec "$@"', "limited", *command]
    return subprocess.run(
        command,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Server:
    engine: str
    port: int
    socket_dir: Path
    admin_user: str
    env: dict[str, str] = field(default_factory=dict)
    """Client environment for admin connections over TCP."""

    def sql(self, database: str, statement: str) -> str:
        """Run SQL as the admin over TCP; the rows as tab-separated text."""
        if self.engine == "postgresql":
            command = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.admin_user, "-d", database]
            command += ["-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", statement]
        else:
            command = ["mariadb", "-h", "127.0.0.1", "-P", str(self.port), "-u", self.admin_user, "-N", "-B"]
            command += [database, "-e", statement]
        result = subprocess.run(command, env={**os.environ, **self.env}, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise AssertionError(f"{statement!r} failed: {result.stderr}")
        return result.stdout

    def backup_env(self, database: str, backup_dir: Path, **extra: str) -> dict[str, str]:
        """What the backup CronJob's container gets (program/database_program/backup.py)."""
        return {
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.port),
            "DB_NAME": database,
            "DB_USER": self.admin_user,
            "DB_PASSWORD": ADMIN_PASSWORD,
            "BACKUP_DIR": str(backup_dir),
            "RETENTION_MINUTES": "10080",
            "TERMINATION_LOG": str(backup_dir.parent / "termination-log"),
            **extra,
        }


def _scratch() -> Path:
    # Not under pytest's tmp_path: its parents are private to root, and the servers run as other users.
    root = Path(tempfile.mkdtemp(prefix="dbop-server-"))
    root.chmod(0o755)
    return root


def _postgresql_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (Debian package postgresql; scripts/test installs it)")
    return found[-1].parent


@pytest.fixture(scope="session")
def postgresql() -> Iterator[Server]:
    binaries, root, port = _postgresql_bin(), _scratch(), _free_port()
    data, sockets = root / "data", root / "sockets"
    for directory in (data, sockets):
        directory.mkdir(mode=0o700)
        _own(directory, "postgres")
    (root / "pwfile").write_text(ADMIN_PASSWORD)
    _own(root / "pwfile", "postgres")
    run = [*_as("postgres")]
    subprocess.run(
        [*run, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={root / 'pwfile'}",
         "--auth-local=trust", "--auth-host=scram-sha-256"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*run, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(sockets / "server.log"), "-w",
         "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = Server("postgresql", port, sockets, "postgres", env={"PGPASSWORD": ADMIN_PASSWORD})
    _wait("PostgreSQL", lambda: bool(server.sql("postgres", "SELECT 1").strip()))
    yield server
    subprocess.run([*run, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[Server]:
    if shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None:
        pytest.fail("MariaDB is not installed (Debian package mariadb-server; scripts/test installs it)")
    root, port = _scratch(), _free_port()
    data, sockets = root / "data", root / "sockets"
    for directory in (data, sockets):
        directory.mkdir()
        _own(directory, "mysql")
    user = "mysql" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", f"--user={user}",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True, capture_output=True,
    )  # fmt: skip
    socket_path = sockets / "mysqld.sock"
    process = subprocess.Popen(
        ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
         f"--socket={socket_path}", f"--pid-file={sockets / 'mysqld.pid'}", f"--log-error={sockets / 'error.log'}",
         f"--user={user}", "--skip-name-resolve"],
    )  # fmt: skip
    local = ["mariadb", f"--socket={socket_path}", "-u", "root"]
    _wait(
        "MariaDB", lambda: subprocess.run([*local, "-e", "SELECT 1"], capture_output=True, check=False).returncode == 0
    )
    subprocess.run(
        [*local, "-e", f"ALTER USER root@localhost IDENTIFIED BY '{ADMIN_PASSWORD}';"
         f"CREATE USER admin@'127.0.0.1' IDENTIFIED BY '{ADMIN_PASSWORD}';"
         "GRANT ALL ON *.* TO admin@'127.0.0.1' WITH GRANT OPTION;"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = Server("mariadb", port, sockets, "admin", env={"MYSQL_PWD": ADMIN_PASSWORD})
    yield server
    process.terminate()
    process.wait(timeout=60)
    shutil.rmtree(root, ignore_errors=True)

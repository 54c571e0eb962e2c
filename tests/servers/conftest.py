"""Real PostgreSQL and MariaDB servers from the Debian packages, on loopback ports in scratch directories, to run
the program's own scripts against. Servers run as the packages' system users when the tests run as root."""

import datetime
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

from database_api.profiles import load_stacks_config
from database_api.spec import resolve_spec
from database_operator.server_tls import issue, new_ca, server_hostnames
from database_program.context import Credentials, DatabaseContext, ServerTls
from database_program.engines import render_config
from database_program.tls import PRIVATE_DIRECTORY

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
    name: str,
    env: dict[str, str],
    limit_file_kib: int | None = None,
    user: str | None = None,
    args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """One of the program's shipped scripts, as its container runs it (`sh <script> <args>`), with only `env` set.
    `limit_file_kib` caps the size of any file it writes (a full disk, as far as the script can tell); `user`
    is the system user it runs as (when we are root)."""
    command = [*(_as(user) if user else []), "sh", str(SCRIPTS / name), *args]
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
    """Client environment (the password)."""
    local: bool = False
    """Connect over the local socket in `socket_dir` instead of TCP (the superuser of a pod: its only way in)."""

    def sql(self, database: str, statement: str) -> str:
        """Run SQL as `admin_user`; the rows as tab-separated text."""
        if self.engine == "postgresql":
            host = str(self.socket_dir) if self.local else "127.0.0.1"
            command = ["psql", "-h", host, "-p", str(self.port), "-U", self.admin_user, "-d", database]
            command += ["-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", statement]
        else:
            # (MariaDB's client takes a port as a wish for TCP, whatever the socket.)
            where = (
                [f"--socket={self.socket_dir / 'mysqld.sock'}"]
                if self.local
                else ["-h", "127.0.0.1", "-P", str(self.port)]
            )
            command = ["mariadb", *where, "-u", self.admin_user, "-N", "-B"]
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


# -- Pods: the bootstrap init container, then the server container, on one data volume ----------------------

APP_USER = "app"
APP_PASSWORD = "app-pa55word-'quoted'\\"
REPLICATION_USER = "replicator"
REPLICATION_PASSWORD = "r3pl-pa55word-'quoted'"
EXPORTER_USER = "exporter"
EXPORTER_PASSWORD = "exp0rter-pa55word-'quoted'"
BACKUP_USER = "backup"
BACKUP_PASSWORD = "backup-pa55word-'quoted'\\"
PASSWORDS = (ADMIN_PASSWORD, APP_PASSWORD, REPLICATION_PASSWORD, EXPORTER_PASSWORD, BACKUP_PASSWORD)
SYSTEM_USER = {"postgresql": "postgres", "mariadb": "mysql"}


def shipped_config(engine: str) -> str:
    """The configuration file the program renders into a Database's ConfigMap."""
    stacks_config = load_stacks_config()
    raw = {"type": engine, "version": "10.11" if engine == "mariadb" else "15", "storage": {"size": "1Gi"}}
    spec = resolve_spec({**raw, "replicas": 3}, stacks_config)
    ctx = DatabaseContext(
        name="orders",
        namespace="shop",
        spec=spec,
        engine=stacks_config.engine(spec.engine),
        environment=stacks_config.environment(spec.environment),
        credentials=Credentials(*["unused"] * 5),
        tls=ServerTls(*["unused"] * 4),
    )
    return render_config(ctx)


TLS_CA = new_ca("orders", "shop", datetime.datetime.now(datetime.UTC))
"""The Database's CA as the operator makes it: (certificate, key). The key never reaches a pod."""


def server_certificate() -> tuple[str, str]:
    """A server certificate of `orders` in `shop` as the operator issues it (127.0.0.1, the test servers' address,
    among its names): (certificate, key)."""
    now = datetime.datetime.now(datetime.UTC)
    return issue(*TLS_CA, server_hostnames("orders", "shop"), datetime.timedelta(days=1), now)


TLS_MATERIAL = dict(zip(("tls.crt", "tls.key"), server_certificate(), strict=True)) | {"ca.crt": TLS_CA[0]}
"""The `<name>-tls` Secret's files, the same for every test pod."""


@dataclass
class Pod:
    """One database pod as the StatefulSet makes it (statefulset.py): a data volume, scratch directories, the
    bootstrap init container's environment, then the server on the shipped configuration. Servers listen on
    loopback ports; `primary_port` stands for the primary's Service."""

    engine: str
    root: Path
    index: int = 0
    primary_port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    server: Server | None = None

    def __post_init__(self) -> None:
        for directory in (self.volume, self.run_dir, self.pod_info):
            directory.mkdir(parents=True, exist_ok=True)
            _own(directory, self.user)
        # The Secret volume (Secret and CA ConfigMap in one) and the private copy the configuration names.
        for directory in (self.tls_secret, self.tls_private):
            directory.mkdir(parents=True, exist_ok=True)
            _own(directory, self.user)
        for name, pem in TLS_MATERIAL.items():
            (self.tls_secret / name).write_text(pem)
        config = self.root / "server.conf"
        config.write_text(shipped_config(self.engine).replace(PRIVATE_DIRECTORY, str(self.tls_private)))
        # What the operator gives a new Database's pods (its role label and may-initialise annotation, which the
        # pod reads through the downward API): pod 0 is the first primary.
        self.set_role("primary" if self.index == 0 else "replica")
        (self.pod_info / "may-initialise").write_text("true" if self.index == 0 else "")

    @property
    def pod_info(self) -> Path:
        return self.root / "podinfo"

    def set_role(self, role: str) -> None:
        (self.pod_info / "role").write_text(role)

    @property
    def role_env(self) -> dict[str, str]:
        return {"ROLE_FILE": str(self.pod_info / "role"), "MAY_INITIALISE_FILE": str(self.pod_info / "may-initialise")}

    @property
    def user(self) -> str:
        if os.geteuid() == 0:
            return SYSTEM_USER[self.engine]
        return os.environ.get("USER", "nobody")

    @property
    def volume(self) -> Path:
        return self.root / "volume"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def tls_secret(self) -> Path:
        return self.root / "tls-secret"

    @property
    def tls_private(self) -> Path:
        return self.root / "tls"

    def client_tls_env(self) -> dict[str, str]:
        """What engines.client_tls_env gives the pods' clients: verify the server against the CA."""
        ca = str(self.tls_secret / "ca.crt")
        if self.engine == "postgresql":
            return {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca}
        return {"CLIENT_TLS_OPTIONS": f"--ssl-ca={ca} --ssl-verify-server-cert", "TLS_CA_FILE": ca}

    @property
    def data(self) -> Path:
        return self.volume / ("pgdata" if self.engine == "postgresql" else "data")

    @property
    def build(self) -> Path:
        return Path(f"{self.data}.bootstrap")

    @property
    def termination_log(self) -> Path:
        return self.run_dir / "termination-log"

    def bootstrap_env(self, **extra: str) -> dict[str, str]:
        env = {
            "POD_INDEX": str(self.index),
            "ADMIN_USER": "postgres" if self.engine == "postgresql" else "root",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "APP_USER": APP_USER,
            "APP_PASSWORD": APP_PASSWORD,
            "DATABASE": "orders",
            "REPLICATION_USER": REPLICATION_USER,
            "REPLICATION_PASSWORD": REPLICATION_PASSWORD,
            "EXPORTER_USER": EXPORTER_USER,
            "EXPORTER_PASSWORD": EXPORTER_PASSWORD,
            "BACKUP_USER": BACKUP_USER,
            "BACKUP_PASSWORD": BACKUP_PASSWORD,
            "RUN_DIR": str(self.run_dir),
            "TERMINATION_LOG": str(self.termination_log),
            "SECRET_DIR": str(self.tls_secret),
            "PRIVATE_DIR": str(self.tls_private),
            **self.client_tls_env(),
            **self.role_env,
        }
        if self.engine == "postgresql":
            env["PGDATA"] = str(self.data)
        else:
            env |= {"DATADIR": str(self.data), "CONFIG_FILE": str(self.root / "server.conf")}
        if self.primary_port is not None:
            env |= {"PRIMARY_HOST": "127.0.0.1", "PRIMARY_PORT": str(self.primary_port)}
        return {**env, **extra}

    def bootstrap(self, **extra: str) -> subprocess.CompletedProcess[str]:
        """The init container: bootstrap-<engine>.sh as the server's system user."""
        script = "bootstrap-postgresql.sh" if self.engine == "postgresql" else "bootstrap-mysql.sh"
        return run_script(script, self.bootstrap_env(**extra), user=self.user)

    def start(self) -> Server:
        """The server container: the server binary on the shipped configuration and the bootstrapped data."""
        port = _free_port()
        if self.engine == "postgresql":
            options = f"-c config_file={self.root / 'server.conf'} -c port={port} -c listen_addresses=127.0.0.1 "
            options += f"-c unix_socket_directories={self.run_dir}"
            subprocess.run(
                [*_as(self.user), str(_postgresql_bin() / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                 str(self.run_dir / "server.log"), "-w", "start"],
                check=True, capture_output=True,
            )  # fmt: skip
        else:
            command = [
                "/usr/sbin/mariadbd", f"--defaults-file={self.root / 'server.conf'}", f"--datadir={self.data}",
                f"--port={port}", "--bind-address=127.0.0.1", f"--socket={self.run_dir / 'mysqld.sock'}",
                f"--pid-file={self.run_dir / 'mysqld.pid'}", f"--log-error={self.run_dir / 'server.log'}",
                f"--user={self.user}",
            ]  # fmt: skip
            env = {"PATH": os.environ["PATH"], "POD_INDEX": str(self.index), **self.role_env}
            self.process = subprocess.Popen(["sh", str(SCRIPTS / "start-mysql.sh"), *command], env=env)
        user = "postgres" if self.engine == "postgresql" else "root"
        password_env = "PGPASSWORD" if self.engine == "postgresql" else "MYSQL_PWD"
        server = Server(self.engine, port, self.run_dir, user, env={password_env: ADMIN_PASSWORD}, local=True)
        _wait(f"{self.engine} on {self.data}", lambda: _answers(server))
        self.server = server
        return server

    def stop(self) -> None:
        if self.engine == "postgresql":
            subprocess.run(
                [*_as(self.user), str(_postgresql_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                capture_output=True, check=False,
            )  # fmt: skip
        elif self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None
        self.server = None

    def app(self) -> Server:
        """The application user over TCP, as a client of the `<name>` Service."""
        return self.client(APP_USER, APP_PASSWORD)

    def client(self, user: str, password: str) -> Server:
        """`user` over TCP, as a client of the `<name>` Service (or the exporter sidecar, from 127.0.0.1)."""
        assert self.server is not None
        password_env = "PGPASSWORD" if self.engine == "postgresql" else "MYSQL_PWD"
        return Server(self.engine, self.server.port, self.run_dir, user, env={password_env: password})


def _answers(server: Server) -> bool:
    try:
        server.sql("postgres" if server.engine == "postgresql" else "mysql", "SELECT 1")
    except AssertionError:
        return False
    return True


@pytest.fixture
def pods() -> Iterator[Callable[..., Pod]]:
    """pods(engine, index=0, primary_port=None) -> a new Pod; every server is stopped afterwards."""
    made: list[Pod] = []
    scratch = _scratch()

    def _pod(engine: str, index: int = 0, primary_port: int | None = None) -> Pod:
        pod = Pod(engine, scratch / f"{engine}-{len(made)}", index, primary_port)
        made.append(pod)
        return pod

    yield _pod
    for pod in made:
        pod.stop()
    shutil.rmtree(scratch, ignore_errors=True)

"""The images' programs run from their own root filesystems: each database server starts and answers a query
through the image's own client, the exporters and client tools run, the pause image waits until told to stop."""

import signal
import subprocess
from pathlib import Path

import pytest

from tests.images.conftest import Image, run_in_root

# On the image's default unix socket only (its directory is part of the image), never on this machine's ports.
POSTGRESQL = """
set -e
initdb -D /tmp/pgdata -U postgres --auth=trust >/dev/null
pg_ctl -D /tmp/pgdata -o "-c listen_addresses=" -l /tmp/postgresql.log -w start >/dev/null
psql -U postgres -Atc "select 1"
pg_ctl -D /tmp/pgdata -w stop >/dev/null
"""

MARIADB = """
set -e
mariadb-install-db --datadir=/tmp/mysql --skip-test-db --auth-root-authentication-method=normal >/dev/null
{server} --datadir=/tmp/mysql --skip-networking --log-error=/tmp/mysql.err &
for attempt in $(seq 150); do [ -S /run/mysqld/mysqld.sock ] && break; sleep 0.2; done
mariadb -u root -Nse "select 1"
mariadb-admin -u root shutdown
wait
"""


def test_postgresql_initialises_starts_and_answers_a_query(images: dict[str, Image], tmp_path: Path) -> None:
    image = images["postgresql"]
    root = image.unpack(tmp_path / "root")
    assert image.config["config"]["Cmd"] == ["postgres"]  # started through pg_ctl here, found on the image's PATH
    assert run_in_root(root, image.config["config"]["User"], image.env, POSTGRESQL).split() == ["1"]


@pytest.fixture(scope="module")
def mariadb_root(images: dict[str, Image], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images["mariadb"].unpack(tmp_path_factory.mktemp("mariadb") / "root")


def test_mariadb_initialises_starts_and_answers_a_query(images: dict[str, Image], mariadb_root: Path) -> None:
    image = images["mariadb"]
    [server] = image.config["config"]["Cmd"]
    script = MARIADB.format(server=server)
    assert run_in_root(mariadb_root, image.config["config"]["User"], image.env, script).split() == ["1"]


def test_mariadb_listens_where_the_pod_configuration_says(images: dict[str, Image], mariadb_root: Path) -> None:
    """Debian's own config must not pin the server to 127.0.0.1: it is read after a pod's conf.d file."""
    image = images["mariadb"]
    defaults = run_in_root(mariadb_root, image.config["config"]["User"], image.env, "my_print_defaults --mysqld")
    assert "--socket=/run/mysqld/mysqld.sock" in defaults.split()
    assert "bind-address" not in defaults


def run_entrypoint(image: Image, root: Path, *args: str) -> str:
    """The image's entrypoint as its user, from its root filesystem (the exporters' images have no shell)."""
    command = [*image.config["config"]["Entrypoint"], *args]
    user = image.config["config"]["User"]
    result = subprocess.run(
        ["chroot", f"--userspec={user}", str(root), *command],
        env=image.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize(("name", "version"), [("postgres-exporter", "0.11.1"), ("mysqld-exporter", "0.14.0")])
def test_the_exporter_runs_and_reports_its_version(
    images: dict[str, Image], tmp_path: Path, name: str, version: str
) -> None:
    image = images[name]
    output = run_entrypoint(image, image.unpack(tmp_path / "root"), "--version")
    assert f"version {version}" in output


def test_the_tools_image_has_the_clients_the_tests_use(images: dict[str, Image], tmp_path: Path) -> None:
    image = images["debian-tools"]
    root = image.unpack(tmp_path / "root")
    script = (
        "ip -V && kdig -V && curl --version && nc -h 2>&1 | head -n 1 && psql --version && mariadb --version"
        " && getent hosts localhost"
    )
    output = run_in_root(root, "65534:65534", image.env, script)
    for expected in ("iproute2", "kdig", "curl", "OpenBSD netcat", "psql (PostgreSQL) 15", "MariaDB", "localhost"):
        assert expected in output


def test_the_pause_image_waits_until_terminated(images: dict[str, Image], tmp_path: Path) -> None:
    image = images["catatonit"]
    root = image.unpack(tmp_path / "root")
    user = image.config["config"]["User"]
    pause = subprocess.Popen(["chroot", f"--userspec={user}", str(root), *image.config["config"]["Entrypoint"]])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            pause.wait(timeout=1)
        pause.send_signal(signal.SIGTERM)
        assert pause.wait(timeout=10) == 0
    finally:
        pause.kill()

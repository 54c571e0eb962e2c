"""TLS with the program's own configuration and scripts, on real servers: every TCP client must use TLS, clients
that verify the Database's CA and name connect, replicas copy and stream over verified TLS, and a renewed
certificate is served without a restart (tls.sh watch, the tls-reload container's loop)."""

import contextlib
import datetime
import os
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from database_operator.server_tls import new_ca
from tests.servers.conftest import (
    ADMIN_PASSWORD,
    APP_PASSWORD,
    APP_USER,
    REPLICATION_PASSWORD,
    REPLICATION_USER,
    SCRIPTS,
    TLS_MATERIAL,
    Pod,
    Server,
    _as,
    _own,
    server_certificate,
)
from tests.servers.test_replication import MakePod, eventually, replica, server, started

RELOAD_STATEMENT = {"postgresql": "SELECT pg_reload_conf()", "mariadb": "FLUSH SSL"}


def app_client(pod: Pod, *options: str) -> subprocess.CompletedProcess[str]:
    """The application user over TCP with the client's own TLS `options`, asking which cipher it uses."""
    port = str(server(pod).port)
    if pod.engine == "postgresql":
        connection = " ".join([f"host=127.0.0.1 port={port} user={APP_USER} dbname=orders", *options])
        command = ["psql", "-X", "-A", "-t", connection]
        command += ["-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"]
        env = {"PGPASSWORD": APP_PASSWORD}
    else:
        command = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", port, "-u", APP_USER, *options, "-N", "-B"]
        command += ["orders", "-e", "SHOW STATUS LIKE 'Ssl_version'"]
        env = {"MYSQL_PWD": APP_PASSWORD}
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)


def verifying(pod: Pod, host: str = "orders.shop.svc") -> list[str]:
    """A client that checks the server's certificate against the CA and the name it connects to."""
    ca = str(pod.tls_secret / "ca.crt")
    if pod.engine == "postgresql":
        return [f"host={host} hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={ca}"]
    return [f"--ssl-ca={ca}", "--ssl-verify-server-cert"]


def served_serial(pod: Pod) -> str:
    """The serial number of the certificate the server presents now."""
    starttls = "postgres" if pod.engine == "postgresql" else "mysql"
    hello = subprocess.run(
        ["openssl", "s_client", "-starttls", starttls, "-connect", f"127.0.0.1:{server(pod).port}"],
        input="", capture_output=True, text=True, check=False,
    )  # fmt: skip
    fields = subprocess.run(
        ["openssl", "x509", "-noout", "-serial"], input=hello.stdout, capture_output=True, text=True, check=False
    )
    return fields.stdout.strip().removeprefix("serial=")


def certificate_serial(pem: str) -> str:
    command = ["openssl", "x509", "-noout", "-serial"]
    fields = subprocess.run(command, input=pem, capture_output=True, text=True, check=False)
    return fields.stdout.strip().removeprefix("serial=")


def replica_status(replica: Server) -> str:
    """SHOW SLAVE STATUS with its column names (Server.sql leaves them out)."""
    command = ["mariadb", f"--socket={replica.socket_dir / 'mysqld.sock'}", "-u", "root", "-e", "SHOW SLAVE STATUS\\G"]
    env = {**os.environ, "MYSQL_PWD": ADMIN_PASSWORD}
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def server_started_at(pod: Pod) -> str:
    if pod.engine == "postgresql":
        return server(pod).sql("postgres", "SELECT pg_postmaster_start_time()").strip()
    assert pod.process is not None
    return str(pod.process.pid)


@pytest.fixture(params=["postgresql", "mariadb"])
def primary(request: pytest.FixtureRequest, pods: MakePod) -> Pod:
    pod = started(pods(request.param))
    server(pod).sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    return pod


@contextlib.contextmanager
def tls_watch(pod: Pod, **overrides: str) -> Iterator[subprocess.Popen[str]]:
    """tls.sh watch, as the pod's tls-reload container runs it, looking every second; `overrides`: its
    environment's."""
    env = {
        "PATH": os.environ["PATH"],
        "SECRET_DIR": str(pod.tls_secret),
        "PRIVATE_DIR": str(pod.tls_private),
        "RELOAD_STATEMENT": RELOAD_STATEMENT[pod.engine],
        "RELOAD_SECONDS": "1",
        "ADMIN_USER": "postgres",
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "POD_INDEX": str(pod.index),
        "TLS_CA_FILE": str(pod.tls_secret / "ca.crt"),
        "PGHOST": str(pod.run_dir),
        "PGPORT": str(server(pod).port),
        "MYSQL_UNIX_PORT": str(pod.run_dir / "mysqld.sock"),
        "REPLICATION_USER": REPLICATION_USER,
        "REPLICATION_PASSWORD": REPLICATION_PASSWORD,
        **overrides,
    }
    family = "postgresql" if pod.engine == "postgresql" else "mysql"
    command = [*_as(pod.user), "sh", str(SCRIPTS / "tls.sh"), "watch", family]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def output_of(process: subprocess.Popen[str]) -> str:
    process.terminate()
    return process.stdout.read() if process.stdout else ""


@pytest.fixture
def reload_loop(primary: Pod) -> Iterator[subprocess.Popen[str]]:
    with tls_watch(primary) as process:
        yield process


def test_tcp_clients_must_use_tls_and_a_verifying_client_connects(primary: Pod) -> None:
    plaintext = ["sslmode=disable"] if primary.engine == "postgresql" else ["--skip-ssl"]
    refused = app_client(primary, *plaintext)
    assert refused.returncode != 0
    if primary.engine == "postgresql":
        assert "no encryption" in refused.stderr

    verified = app_client(primary, *verifying(primary))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() in ("t", "Ssl_version\tTLSv1.3")

    if primary.engine == "postgresql":  # the name is checked: one the certificate does not carry is refused
        wrong_name = app_client(primary, *verifying(primary, host="elsewhere.shop.svc"))
        assert "does not match host name" in wrong_name.stderr


def test_replicas_copy_and_stream_over_verified_tls(primary: Pod, pods: MakePod) -> None:
    copy = server(replica(pods, primary, 1))
    if primary.engine == "postgresql":
        conninfo = copy.sql("postgres", "SHOW primary_conninfo")
        assert "sslmode='verify-full'" in conninfo and "sslrootcert=" in conninfo
        eventually(
            "a replication connection over TLS",
            lambda: (
                server(primary)
                .sql("postgres", "SELECT ssl FROM pg_stat_replication JOIN pg_stat_ssl USING (pid)")
                .strip()
                == "t"
            ),
        )
    else:
        eventually("the replica's IO thread", lambda: "Slave_IO_Running: Yes" in replica_status(copy))
        status = replica_status(copy)
        assert "Master_SSL_Allowed: Yes" in status and "Master_SSL_Verify_Server_Cert: Yes" in status


def test_a_renewed_certificate_is_served_without_a_restart(primary: Pod, reload_loop: subprocess.Popen[str]) -> None:
    started_at = server_started_at(primary)
    assert served_serial(primary) == certificate_serial(TLS_MATERIAL["tls.crt"])
    renewed, key = server_certificate()
    # The kubelet swaps a Secret volume's files at once; the key first is the harder case for the server.
    (primary.tls_secret / "tls.key").write_text(key)
    (primary.tls_secret / "tls.crt").write_text(renewed)

    deadline = time.monotonic() + 30
    while served_serial(primary) != certificate_serial(renewed):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the server still presents the old certificate; tls.sh said: {output_of(reload_loop)}"
            )
        time.sleep(0.5)
    assert server_started_at(primary) == started_at
    verified = app_client(primary, *verifying(primary))
    assert verified.returncode == 0, verified.stderr


def test_a_mariadb_replica_made_before_tls_is_moved_to_verified_tls(pods: MakePod) -> None:
    """An earlier version set up replication without TLS; once the primary requires it, the replica's tls-reload
    loop moves replication to TLS verified against the CA (the rolling update restarts replicas first)."""
    primary = started(pods("mariadb"))
    server(primary).sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    copy = replica(pods, primary, 1)
    old = "STOP SLAVE; CHANGE MASTER TO MASTER_SSL=0, MASTER_SSL_VERIFY_SERVER_CERT=0; START SLAVE"
    server(copy).sql("mysql", old)
    eventually("replication refused without TLS", lambda: "Slave_IO_Running: Yes" not in replica_status(server(copy)))

    with tls_watch(copy) as loop:
        moved = "Master_SSL_Verify_Server_Cert: Yes"
        deadline = time.monotonic() + 30
        while not (moved in (status := replica_status(server(copy))) and "Slave_IO_Running: Yes" in status):
            if time.monotonic() > deadline:
                raise AssertionError(f"replication still without TLS; tls.sh said: {output_of(loop)}")
            time.sleep(0.5)
    server(primary).sql("orders", "INSERT INTO notes VALUES (1, 'after the move')")
    eventually("a row over TLS", lambda: "after the move" in server(copy).sql("orders", "SELECT note FROM notes"))


def test_a_postgresql_standby_made_before_tls_is_moved_to_verified_tls(pods: MakePod) -> None:
    """An earlier version's standby streams with libpq's default `prefer` (TLS, not verified): its tls-reload loop
    gives its primary_conninfo verify-full and the CA, never before the primary passes that verification (early in
    the rolling update the primary serves no TLS yet: a standby that insisted would stop streaming, and the update,
    which waits for it, would never reach the primary)."""
    primary = started(pods("postgresql"))
    server(primary).sql("orders", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    standby = replica(pods, primary, 1)
    copy = server(standby)
    verifying_conninfo = copy.sql("postgres", "SHOW primary_conninfo").strip()
    made_before_tls = re.sub(r" (sslmode|sslrootcert)=\S+", "", verifying_conninfo)
    copy.sql("postgres", "ALTER SYSTEM SET primary_conninfo = '{}'".format(made_before_tls.replace("'", "''")))
    copy.sql("postgres", "SELECT pg_reload_conf()")
    receiver = "SELECT status, conninfo FROM pg_stat_wal_receiver"
    eventually(
        "streaming with prefer", lambda: re.match(r"streaming\t.* sslmode=prefer ", copy.sql("postgres", receiver))
    )

    # The primary fails verification (here: the loop trusts another CA): the standby is left as it is.
    other = standby.root / "other-secret"
    other.mkdir()
    for name in ("tls.crt", "tls.key"):
        (other / name).write_text((standby.tls_secret / name).read_text())
    (other / "ca.crt").write_text(new_ca("other", "shop", datetime.datetime.now(datetime.UTC))[0])
    _own(other, standby.user)
    with tls_watch(standby, SECRET_DIR=str(other)) as loop:
        time.sleep(3)  # three rounds
        assert loop.poll() is None, output_of(loop)  # looking all along
        assert "sslmode=prefer" in copy.sql("postgres", receiver), output_of(loop)

    with tls_watch(standby) as loop:
        deadline = time.monotonic() + 30
        while not re.match(r"streaming\t.* sslmode=verify-full ", copy.sql("postgres", receiver)):
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby still streams unverified; tls.sh said: {output_of(loop)}")
            time.sleep(0.5)
    assert "sslrootcert=" in copy.sql("postgres", "SHOW primary_conninfo")
    server(primary).sql("orders", "INSERT INTO notes VALUES (1, 'after the move')")
    eventually("a row over verified TLS", lambda: "after the move" in copy.sql("orders", "SELECT note FROM notes"))
    assert REPLICATION_PASSWORD not in output_of(loop)

"""Accounts with one job each and no password on a command line, on the real node (see test_real_databases.py for
what the real node needs). One Database per engine with a replica and backups serves every assertion:

- while its replica copies the primary and while a backup runs, no process on the node (the pods' processes are
  the host's) has a password of the Database's Secrets in its command line (/proc/*/cmdline, sampled throughout);
- the superuser cannot log in over TCP; the exporter account, inside the pod where it may log in, cannot read the
  application's table; the backup account reads it but cannot write;
- a Database restored from that backup: its first pods' bootstrap saw only the one dump, read-only, and no other
  container the source's backup volume; once the dump is loaded, its pods have no such volume at all."""

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import BackgroundLoop, Kubectl, wait_for
from tests.e2e.databases import first_template, routed_client, wait_ready
from tests.e2e.test_real_databases import (  # noqa: F401 (fixtures)
    READY_TIMEOUT,
    backed_up,
    database,
    namespace,
    query,
    real_node,
    real_operator,
)

ADMIN_USER = {"postgresql": "postgres", "mariadb": "root"}
SECRET_KEYS = {"credentials": ["admin-password", "password"], "replication": ["password"]}
SECRET_KEYS |= {"exporter": ["password"], "backup": ["password"]}


class CommandLines(BackgroundLoop):
    """Samples every process's command line on the node until stopped: the passwords found, and the command lines
    seen that contain any of `watched` (evidence that the sampling covered what it should)."""

    def __init__(self, passwords: list[str], watched: list[str]) -> None:
        self._passwords, self._watched = passwords, watched
        self.leaks: list[str] = []
        self.seen: set[str] = set()
        super().__init__()

    def step(self) -> None:
        for path in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                line = path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # the process is gone
            if any(password in line for password in self._passwords):
                self.leaks.append(line[:80])  # never the password itself in a report
            self.seen |= {watched for watched in self._watched if watched in line}
        self._stop.wait(0.05)


def passwords_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, str]:
    """Every password of the Database's Secrets once they all exist, by `<secret>/<key>`."""

    def read() -> dict[str, str] | None:
        found = {}
        for secret, keys in SECRET_KEYS.items():
            data = (kubectl.get("secret", f"{name}-{secret}", ns) or {}).get("data") or {}
            for key in keys:
                if key not in data:
                    return None
                found[f"{secret}/{key}"] = base64.b64decode(data[key]).decode()
        return found

    return wait_for(f"the Secrets of {name}", read, timeout=120)


def in_database_pod(kubectl: Kubectl, ns: str, pod: str, engine: str, script: str) -> Any:
    """`script` run by sh in the server container, given on stdin (so nothing of it is on a command line)."""
    return kubectl.run("exec", "-i", "-n", ns, pod, "-c", engine, "--", "sh", stdin=script, check=False)


def as_account(kubectl: Kubectl, ns: str, client: str, engine: str, user: str, password: str, sql: str) -> Any:
    """`sql` as `user` through the `<name>` Service from the client pod; the password on stdin, exported."""
    service = "shop"
    if engine == "postgresql":
        command = f'psql -h {service} -U {user} -d shop -X -A -t -v ON_ERROR_STOP=1 -c "{sql}"'
        script = f"export PGPASSWORD='{password}'\nexec {command}\n"
    else:
        command = f'mariadb -h {service} -u {user} -N -B shop -e "{sql}"'
        script = f"export MYSQL_PWD='{password}'\nexec {command}\n"
    return kubectl.run("exec", "-i", "-n", ns, client, "--", "sh", stdin=script, check=False)


@pytest.fixture(params=["postgresql", "mariadb"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def test_accounts_have_one_job_each_and_no_password_is_on_a_command_line(
    kubectl: Kubectl,
    namespace: str,  # noqa: F811
    engine: str,
) -> None:
    family = "postgresql" if engine == "postgresql" else "mysql"
    kubectl.apply(database("shop", namespace, engine, replicas=2, backup={"enabled": True}))
    passwords = passwords_of(kubectl, namespace, "shop")
    watched = [f"/scripts/bootstrap-{family}.sh", "/scripts/backup.sh"]
    with CommandLines(list(passwords.values()), watched) as command_lines:
        wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)  # the replica's copy of the primary included
        client = routed_client(kubectl, namespace, engine, "shop")
        query(kubectl, namespace, client, engine, "shop", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
        query(kubectl, namespace, client, engine, "shop", "INSERT INTO notes VALUES (1, 'the application''s')")
        backup = backed_up(kubectl, namespace, "shop", "nightly")
    assert command_lines.seen == set(watched), "the sampling missed the replica's bootstrap or the backup"
    assert command_lines.leaks == [], f"passwords on command lines: {command_lines.leaks}"

    # The superuser, with the right password, over the network: refused.
    admin = as_account(
        kubectl, namespace, client, engine, ADMIN_USER[engine], passwords["credentials/admin-password"], "SELECT 1"
    )
    assert admin.returncode != 0 and ("pg_hba.conf rejects" in admin.stderr or "Access denied" in admin.stderr)
    # The backup account reads, and cannot write.
    backup_password = passwords["backup/password"]
    read = as_account(kubectl, namespace, client, engine, "backup", backup_password, "SELECT note FROM notes")
    assert read.returncode == 0 and read.stdout.strip() == "the application's", read.stderr
    insert = "INSERT INTO notes VALUES (2, 'x')"
    if engine == "postgresql":  # past the account's read-only default, to the privileges themselves
        insert = f"BEGIN READ WRITE; {insert}; COMMIT"
    write = as_account(kubectl, namespace, client, engine, "backup", backup_password, insert)
    assert write.returncode != 0 and "denied" in write.stderr.lower(), write.stderr
    # The exporter, where it may log in (its own pod, 127.0.0.1), cannot read the application's table.
    exporter_password = passwords["exporter/password"]
    if engine == "postgresql":
        login = f"export PGPASSWORD='{exporter_password}'\nexec psql -h 127.0.0.1 -U exporter -X"
        reads, monitors = (
            f'{login} -d shop -c "SELECT * FROM notes"',
            f'{login} -d postgres -c "SELECT * FROM pg_stat_activity"',
        )
    else:
        login = f"export MYSQL_PWD='{exporter_password}'\nexec mariadb -h 127.0.0.1 -u exporter"
        reads, monitors = f'{login} -e "SELECT * FROM shop.notes"', f'{login} -e "SHOW PROCESSLIST"'
    exporter = in_database_pod(kubectl, namespace, "shop-0", engine, reads + "\n")
    assert exporter.returncode != 0 and "denied" in exporter.stderr.lower(), exporter.stderr
    works = in_database_pod(kubectl, namespace, "shop-0", engine, monitors + "\n")
    assert works.returncode == 0, works.stderr  # the same login does its own job

    restore_sees_one_dump_and_then_none(kubectl, namespace, engine, backup)


def restore_sees_one_dump_and_then_none(kubectl: Kubectl, ns: str, engine: str, backup: dict[str, Any]) -> None:
    """A restore: the bootstrap of its first pods saw only the one dump, read-only, and no other container saw the
    backup volume; once the dump was loaded, no pod of the restored Database has that volume at all."""
    restored = f"copy{uuid.uuid4().hex[:6]}"
    kubectl.apply(database(restored, ns, engine, restore={"backup": "nightly"}))
    wait_ready(kubectl, restored, ns, timeout=READY_TIMEOUT)
    loading = first_template(kubectl, restored, ns)
    assert loading is not None
    [claim] = [
        v for v in loading["volumes"] if (v.get("persistentVolumeClaim") or {}).get("claimName") == "shop-backup"
    ]
    for container in loading["containers"]:
        assert claim["name"] not in [m["name"] for m in container.get("volumeMounts", [])], container["name"]
    [bootstrap] = loading["initContainers"]
    [mount] = [m for m in bootstrap["volumeMounts"] if m["name"] == claim["name"]]
    artifact = Path(backup["status"]["artifact"]).name
    assert mount["subPath"] == artifact and mount["readOnly"] is True
    pod = kubectl.get("pod", f"{restored}-0", ns)
    assert pod is not None
    claims = [(v.get("persistentVolumeClaim") or {}).get("claimName") for v in pod["spec"]["volumes"]]
    assert "shop-backup" not in claims
    # And on the node itself: the server's mounts hold its own data volume, never the backup volume.
    server_mounts = _mounts_of_server(pod, engine)
    assert _volume_path(kubectl, ns, f"data-{restored}-0") in server_mounts
    assert _volume_path(kubectl, ns, "shop-backup") not in server_mounts


def _volume_path(kubectl: Kubectl, ns: str, claim: str) -> str:
    """The name of the directory where the node keeps the claim's volume (the provisioner's)."""
    bound = kubectl.get("pvc", claim, ns)
    assert bound is not None
    volume = kubectl.get("pv", bound["spec"]["volumeName"], ns)  # (cluster-wide: the namespace is ignored)
    assert volume is not None
    spec: dict[str, Any] = volume["spec"]
    return Path((spec.get("hostPath") or spec.get("local"))["path"]).name


def _mounts_of_server(pod: dict[str, Any], engine: str) -> str:
    """/proc/<pid>/mountinfo of a process of the pod's server container, found by the container's id in the
    process's cgroup (PostgreSQL overwrites its environment, so HOSTNAME cannot tell)."""
    [server] = [status for status in pod["status"]["containerStatuses"] if status["name"] == engine]
    container_id = server["containerID"].split("://")[-1]
    for cgroup in Path("/proc").glob("[0-9]*/cgroup"):
        try:
            if container_id in cgroup.read_text():
                return (cgroup.parent / "mountinfo").read_text()
        except OSError:
            continue  # the process is gone
    raise AssertionError(f"no process of container {container_id} on this node")

"""Real pods on the real node: apply -> first successful query, against the same server started without the operator.

The operator's figure: from `kubectl apply` of a Database to the first query that succeeds as the application
user of its `<name>-credentials` Secret, through the `<name>` Service. The floor, in the same run: a bare Pod of
the same image on a claim of the same StorageClass, which initialises the server (initdb / mariadb-install-db)
and starts it, behind a Service of its own; from its apply to the first query that succeeds with its password
through that Service. Both are asked the same way, from one client pod, every POLL_SECONDS.

The failover time: a Database of three pods, synchronous replication, a writer inserting a row every 0.2 s through
`<name>`; the primary's server killed (again each time it restarts, for KILL_SECONDS) until a replica is promoted;
the writes' outage, from the last write acknowledged before the kill to the first one after the change of primary.
"""

import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from benchmark.report import Failover, FirstQuery
from database_api.names import credentials_secret_name
from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.databases import CLIENT_IMAGE, client_pod, query, wait_ready
from tests.e2e.ha import Writer, current_primary, kill_server, write_outage
from tests.node.pods import SLEEPER, claim, pod, start, with_claim, with_volume

VERSIONS = {"postgresql": "15", "mariadb": "10.11"}
IMAGES = {"postgresql": "localhost/postgresql:15", "mariadb": "localhost/mariadb:10.11"}
POLL_SECONDS = 0.5
TIMEOUT_SECONDS = 300
FLOOR_USER = "app"
FLOOR_PASSWORD = "floor-password"
# The floor servers: initialise in a directory of the claim, then run the server in the foreground, listening on
# every address; the application user has a password, as the operator's has.
FLOOR_SCRIPTS = {
    "postgresql": (
        f"echo {FLOOR_PASSWORD} >/tmp/password"
        f" && initdb -D /data/db -U {FLOOR_USER} --pwfile=/tmp/password --auth=scram-sha-256 >/dev/null"
        " && echo 'host all all all scram-sha-256' >>/data/db/pg_hba.conf"
        " && exec postgres -D /data/db -c listen_addresses='*' -c unix_socket_directories=/tmp"
    ),
    "mariadb": (
        f"echo \"CREATE USER '{FLOOR_USER}'@'%' IDENTIFIED BY '{FLOOR_PASSWORD}';\" >/tmp/init.sql"
        " && mariadb-install-db --datadir=/data/db >/dev/null"
        " && exec mariadbd --datadir=/data/db --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid"
        " --bind-address=0.0.0.0 --init-file=/tmp/init.sql"
    ),
}
PORTS = {"postgresql": 5432, "mariadb": 3306}
FLOOR_DATABASES = {"postgresql": "postgres", "mariadb": ""}  # MariaDB: the user's session needs none
KILL_SECONDS = 8  # longer than the operator's default failover delay (5 s) and the readiness probe's period


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    database: str


def query_command(engine: str, host: str, login: Login) -> list[str]:
    """`select 1` as `login` through `host`; the password goes over stdin, never into argv."""
    if engine == "postgresql":
        client = f'PGPASSWORD="$(cat)" PGCONNECT_TIMEOUT=2 psql -h {host} -U {login.user} -d {login.database} -XAtc'
    else:
        client = f'MYSQL_PWD="$(cat)" mariadb --connect-timeout=2 -h {host} -u {login.user} -N -B {login.database} -e'
    return ["sh", "-c", f"{client} 'select 1'"]


def database(name: str, namespace: str, engine: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "database.example.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": engine,
            "version": VERSIONS[engine],
            "storage": {"size": "1Gi"},
            "deletionPolicy": "Delete",
            "replicas": replicas,
        },
    }


def floor_objects(name: str, engine: str, on_claim: bool) -> list[dict[str, Any]]:
    """The bare server: its Pod, its data on a claim of the default class (`on_claim`) or an emptyDir, and a
    Service `name` in front of it."""
    server = pod(name, IMAGES[engine], ["sh", "-c", FLOOR_SCRIPTS[engine]])
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": PORTS[engine]}]},
    }
    if on_claim:
        return [claim(name, "1Gi"), with_claim(server, name, "/data"), service]
    return [with_volume(server, {"name": "data", "emptyDir": {}}, "/data"), service]


class Client:
    """A pod with the engines' clients in one namespace, from which every query of that namespace is made."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.kubectl, self.namespace, self.name = kubectl, namespace, "client"
        self.last_error: list[str] = []
        """The last failed query's last line of error output, for the round's report."""
        start(kubectl, namespace, pod(self.name, CLIENT_IMAGE, SLEEPER))

    def answers(self, engine: str, host: str, login: Login) -> bool:
        command = query_command(engine, host, login)
        result = self.kubectl.run("exec", "-i", "-n", self.namespace, self.name, "--", *command,
                                  stdin=login.password, check=False)  # fmt: skip
        if result.returncode:  # the client's own last word, not kubectl's "command terminated with exit code"
            said = [line for line in result.stderr.splitlines() if line and not line.startswith("command terminated")]
            self.last_error = said[-1:]
        return result.returncode == 0 and result.stdout.strip() == "1"

    def first_answer(self, engine: str, host: str, login: Login | None, started: float) -> float:
        """Seconds from `started` to the first answer; `login` None reads it from the Database's Secret once it
        exists."""
        self.last_error = []
        while time.monotonic() - started < TIMEOUT_SECONDS:
            login = login or secret_login(self.kubectl, self.namespace, host)
            if login is not None and self.answers(engine, host, login):
                return time.monotonic() - started
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"{engine} {self.namespace}/{host}: no answer to a query after {TIMEOUT_SECONDS}s")


def secret_login(kubectl: Kubectl, namespace: str, database_name: str) -> Login | None:
    secret = kubectl.get("secret", credentials_secret_name(database_name), namespace)
    if secret is None:
        return None
    data = {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}
    return Login(data["username"], data["password"], data["database"])


def apply(kubectl: Kubectl, namespace: str, objects: list[dict[str, Any]]) -> tuple[float, datetime]:
    """Apply the objects in one request; the moment it was sent (monotonic, and wall-clock for the API's times)."""
    started, wall = time.monotonic(), datetime.now(UTC)
    kubectl.run(
        "apply", "-n", namespace, "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    return started, wall


def pod_timeline(kubectl: Kubectl, namespace: str, pod_name: str, wall: datetime) -> str:
    """When the pod's conditions became true, in whole seconds after `wall` (the API's resolution): where a
    round's time went."""
    found = kubectl.get("pod", pod_name, namespace) or {}
    moments = [
        f"{condition['type']} +{(datetime.fromisoformat(condition['lastTransitionTime']) - wall).total_seconds():.0f}s"
        for condition in (found.get("status") or {}).get("conditions", [])
        if condition["status"] == "True"
    ]
    return ", ".join(moments) or "pod gone"


def first_queries(kubectl: Kubectl, engine: str, rounds: int) -> FirstQuery:
    """`rounds` Databases of `engine` one after the other, each measured and deleted before the next starts, and
    as many bare servers likewise, on a claim and without a volume."""
    suffix = uuid.uuid4().hex[:6]
    namespace, floor = f"bench-real-{engine}-{suffix}", f"floor-real-{engine}-{suffix}"
    for name in (namespace, floor):
        kubectl.run("create", "namespace", name)
    clients = {name: Client(kubectl, name) for name in (namespace, floor)}
    result = FirstQuery(engine=engine, operator=[], floor=[], bare_server=[])
    for index in range(rounds):
        name = f"db-{index}"
        started, wall = apply(kubectl, namespace, [database(name, namespace, engine)])
        result.operator.append(clients[namespace].first_answer(engine, name, None, started))
        print(f"{engine} {index + 1}/{rounds}: operator {result.operator[-1]:.1f}s "
              f"({pod_timeline(kubectl, namespace, f'{name}-0', wall)}; last refusal: {clients[namespace].last_error})",
              flush=True)  # fmt: skip
        kubectl.run("delete", "database", name, "-n", namespace, "--wait=true", "--timeout=110s")

        login = Login(FLOOR_USER, FLOOR_PASSWORD, FLOOR_DATABASES[engine])
        for on_claim, figures in ((True, result.floor), (False, result.bare_server)):
            server = f"{name}-{'claim' if on_claim else 'bare'}"
            started, wall = apply(kubectl, floor, floor_objects(server, engine, on_claim))
            figures.append(clients[floor].first_answer(engine, server, login, started))
            print(f"{engine} {index + 1}/{rounds}: {server} {figures[-1]:.1f}s "
                  f"({pod_timeline(kubectl, floor, server, wall)}; last refusal: {clients[floor].last_error})",
                  flush=True)  # fmt: skip
            kinds = "pod,service,pvc" if on_claim else "pod,service"
            kubectl.run("delete", kinds, server, "-n", floor, "--wait=true", "--timeout=110s")
    for name in (namespace, floor):
        kubectl.run("delete", "namespace", name, "--wait=false")
    return result


def failover_times(kubectl: Kubectl, engine: str, rounds: int) -> Failover:
    """One Database of three pods of `engine`; `rounds` times, its primary's server killed while a writer writes,
    each round's outage measured once a replica took over, and the old primary back as a replica (the Database
    Ready) before the next."""
    namespace, name = f"bench-ha-{engine}-{uuid.uuid4().hex[:6]}", "ha"
    kubectl.run("create", "namespace", namespace)
    kubectl.apply(database(name, namespace, engine, replicas=3))
    wait_ready(kubectl, name, namespace, timeout=TIMEOUT_SECONDS)
    client = client_pod(kubectl, namespace, name)
    query(kubectl, namespace, client, engine, name, "CREATE TABLE t (id int PRIMARY KEY)")
    result, first = Failover(engine=engine, seconds=[]), 1
    for index in range(rounds):
        outage, first = one_failover(kubectl, namespace, client, engine, name, first)
        result.seconds.append(outage)
        print(f"{engine} failover {index + 1}/{rounds}: writes stopped for {outage:.1f}s", flush=True)
    kubectl.run("delete", "database", name, "-n", namespace, "--wait=true", "--timeout=110s")
    kubectl.run("delete", "namespace", namespace, "--wait=false")
    return result


def one_failover(
    kubectl: Kubectl, namespace: str, client: str, engine: str, name: str, first: int
) -> tuple[float, int]:
    """The primary's server killed while the writer writes from row `first` on: the writes' outage, and the next
    row's number once the old primary is back as a replica (the Database Ready)."""
    old = current_primary(kubectl, namespace, name)
    assert old is not None, f"{namespace}/{name} has no primary in its status"
    writer = Writer(kubectl, namespace, client, engine, name, first)
    time.sleep(2)
    kill_server(kubectl, namespace, old, engine, KILL_SECONDS)

    def taken_over() -> str | None:
        primary = current_primary(kubectl, namespace, name)
        return primary if primary != old else None

    new = wait_for(f"a replica of {namespace}/{name} to take over from {old}", taken_over, timeout=TIMEOUT_SECONDS)
    changed_at = time.time()
    # The old primary was fenced before the change was recorded: a newer row is the new primary's.
    before = newest_row(kubectl, namespace, client, engine, name) or 0

    def written_again() -> bool:
        row = newest_row(kubectl, namespace, client, engine, name)
        return row is not None and row > before

    wait_for(f"a write through {name} again", written_again, timeout=120)
    time.sleep(2)
    written = writer.stop()
    outage = write_outage(written, changed_at)
    assert outage is not None, f"{engine}: no write acknowledged after {old} -> {new}: {written[-10:]}"
    print(f"{engine}: {old} -> {new}", flush=True)
    wait_ready(kubectl, name, namespace, timeout=TIMEOUT_SECONDS)  # the old primary rejoined as a replica
    return outage, max(number for _, number, _ in written) + 1


def newest_row(kubectl: Kubectl, namespace: str, client: str, engine: str, name: str) -> int | None:
    """The highest number written, read through `name` (the writer's own results are read only once it stops);
    None while nothing answers there."""
    try:
        found = query(kubectl, namespace, client, engine, name, "SELECT max(id) FROM t").strip()
    except AssertionError:
        return None
    return int(found) if found.isdigit() else 0

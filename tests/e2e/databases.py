"""Database and DatabaseBackup manifests, the waits and reads the end-to-end tests share, and `database-operator
preview` against a test operator's state."""

import json
import subprocess
import time
import uuid
from typing import Any

from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, wait_for
from tests.node.pods import pod as pod_manifest

CLIENT_IMAGE = "localhost/debian-tools:12"
BACKUP = {"enabled": True, "schedule": "0 3 * * *", "retention": "3d"}
# `database-operator preview`'s exit codes.
NO_CHANGES, ERROR, CHANGES = 0, 1, 2


def database(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "database.example.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}, **spec},
    }


def wait_ready(kubectl: Kubectl, name: str, namespace: str, timeout: float = 120) -> dict[str, Any]:
    """Until status says Ready for the current generation; returns the Database. A timeout names the last
    status seen."""
    seen: dict[str, Any] = {}

    def ready() -> dict[str, Any] | None:
        db = kubectl.get("database", name, namespace)
        if db is None:
            return None
        status = db.get("status") or {}
        seen.update(generation=db["metadata"]["generation"], status=status)
        current = status.get("observedGeneration") == db["metadata"]["generation"]
        return db if current and status.get("phase") == "Ready" and status.get("ready") else None

    try:
        return wait_for(f"Database {namespace}/{name} to be Ready", ready, timeout=timeout)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; last seen: {seen or 'no Database'}") from None


def wait_statefulset(
    kubectl: Kubectl, name: str, namespace: str, timeout: float = 60, **expected: Any
) -> tuple[dict[str, Any], float]:
    """Until the StatefulSet exists (and its spec matches `expected` top-level fields); returns it and the wait."""
    started = time.monotonic()

    def matches() -> dict[str, Any] | None:
        sts = kubectl.get("statefulset", name, namespace)
        if sts is None or any(sts["spec"].get(key) != value for key, value in expected.items()):
            return None
        return sts

    sts = wait_for(f"StatefulSet {namespace}/{name} {expected or ''}", matches, timeout=timeout)
    return sts, time.monotonic() - started


def wait_image(kubectl: Kubectl, name: str, namespace: str, image: str) -> None:
    """Until the StatefulSet's database container runs `image`."""

    def running_it() -> bool:
        sts = kubectl.get("statefulset", name, namespace)
        return bool(sts and sts["spec"]["template"]["spec"]["containers"][0]["image"] == image)

    wait_for(f"StatefulSet {namespace}/{name} to run {image}", running_it)


def condition(db: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in db["status"]["conditions"] if c["type"] == type_)


def event_reasons(kubectl: Kubectl, name: str, namespace: str) -> list[str]:
    return [event["reason"] for event in kubectl.events(namespace, name)]


class Volumes:
    """StorageClasses and pre-bound PersistentVolumes of this test (kwok has no provisioner: claims of the
    default class stay Pending, and only a bound claim can grow)."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        self.suffix = uuid.uuid4().hex[:6]
        self.created: list[tuple[str, str]] = []

    def storage_class(self, expandable: bool) -> str:
        name = f"e2e-{'expandable' if expandable else 'fixed'}-{self.suffix}"
        self._create(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": name},
                "provisioner": "e2e.example.com/none",
                "volumeBindingMode": "Immediate",
                "allowVolumeExpansion": expandable,
            }
        )
        return name

    def bound_in_advance(self, storage_class: str, namespace: str, claim: str, size: str = "1Gi") -> None:
        """A volume reserved for a claim that does not exist yet: the claim binds to it as soon as it is made."""
        self._create(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"e2e-{self.suffix}-{claim}"},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": storage_class,
                    "hostPath": {"path": f"/tmp/e2e-volumes/{self.suffix}/{claim}"},
                    "claimRef": {"namespace": namespace, "name": claim},
                },
            }
        )

    def _create(self, manifest: dict[str, Any]) -> None:
        self.kubectl.apply(manifest)
        self.created.append((manifest["kind"].lower(), manifest["metadata"]["name"]))

    def remove(self) -> None:
        for kind, name in reversed(self.created):
            self.kubectl.run("delete", kind, name, "--wait=false", check=False)


def database_backup(name: str, namespace: str, database_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "database.example.com/v1",
        "kind": "DatabaseBackup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"database": database_name},
    }


def backup_phase(kubectl: Kubectl, name: str, namespace: str, phase: str) -> dict[str, Any] | None:
    backup = kubectl.get("databasebackup", name, namespace) or {}
    status: dict[str, Any] = backup.get("status") or {}
    return status if status.get("phase") == phase else None


def uid(kubectl: Kubectl, kind: str, name: str, namespace: str) -> str:
    found = kubectl.get(kind, name, namespace)
    assert found is not None, f"{kind}/{name} is gone"
    return str(found["metadata"]["uid"])


def secrets_of(kubectl: Kubectl, name: str, namespace: str) -> dict[str, dict[str, str]]:
    """The data of every Secret of the Database (credentials, replication, exporter, backup; the CA with its key, and
    the server certificate with its key), byte for byte (base64 as stored)."""
    secrets = ("credentials", "replication", "exporter", "backup", "ca", "tls")
    found = {secret: kubectl.get("secret", f"{name}-{secret}", namespace) for secret in secrets}
    assert all(found.values()), f"a Secret of {name} is missing: {sorted(k for k, v in found.items() if not v)}"
    return {secret: dict(value["data"]) for secret, value in found.items() if value}


def preview(operator: OperatorProcess, manifest: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """`database-operator preview` with the operator's backend, passphrase and state, reading stdin."""
    return subprocess.run(
        ["database-operator", "preview", *args],
        input=json.dumps(manifest),
        env=operator.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_stack_continued(updates: list[int], history: list[dict[str, Any]]) -> None:
    """The same stack, continued: its earlier `updates` are still in its `history` (newest first), and the
    latest entry is one more update, which changed and created nothing."""
    assert set(updates) <= {entry["version"] for entry in history}
    latest = history[0]
    assert latest["kind"] == "update" and latest["result"] == "succeeded"
    assert latest["resourceChanges"].get("update", 0) >= 1
    assert "create" not in latest["resourceChanges"]


def client_pod(kubectl: Kubectl, namespace: str, database_name: str) -> str:
    """A pod with the engine clients and the application user's password from the Database's Secret."""
    name = f"client-{database_name}"
    secret = f"{database_name}-credentials"
    password = {"valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}
    env = [{"name": "PGPASSWORD", **password}, {"name": "MYSQL_PWD", **password}]
    kubectl.apply(pod_manifest(name, CLIENT_IMAGE, ["sleep", "infinity"], container={"env": env}), "-n", namespace)
    kubectl.run("wait", "-n", namespace, "--for=condition=Ready", f"pod/{name}", "--timeout=110s")
    return name


def routed_client(kubectl: Kubectl, namespace: str, engine: str, database_name: str) -> str:
    """client_pod, once `<name>` answers through its Service: the Service routes to the primary a moment after
    the Database is Ready (its endpoints, then kube-proxy's rules), and a query in between is refused."""
    client = client_pod(kubectl, namespace, database_name)

    def routed() -> bool:
        try:
            return query(kubectl, namespace, client, engine, database_name, "SELECT 1").strip() == "1"
        except AssertionError:
            return False

    wait_for(f"{database_name} to answer through its Service", routed, timeout=60)
    return client


def query(kubectl: Kubectl, namespace: str, client: str, engine: str, host: str, sql: str) -> str:
    """SQL as the application user through `host`: `<name>`, `<name>-ro` or one pod, `<name>-N.<name>-headless`;
    rows as tab-separated lines."""
    service = host.rsplit(".", maxsplit=1)[-1]
    database_name = service.removesuffix("-ro").removesuffix("-headless").replace("-", "_")
    if engine == "postgresql":
        command = ["psql", "-h", host, "-U", "app", "-d", database_name, "-X", "-A", "-t", "-F", "\t"]
        command += ["-v", "ON_ERROR_STOP=1", "-c", sql]
    else:
        command = ["mariadb", "-h", host, "-u", "app", "-N", "-B", database_name, "-e", sql]
    return kubectl.run("exec", "-n", namespace, client, "--", *command).stdout


def mounts(kubectl: Kubectl, name: str, namespace: str, volume: str) -> bool:
    """Whether the StatefulSet's template or any of its pods has the volume."""
    statefulset = kubectl.get("statefulset", name, namespace) or {}
    pods = json.loads(
        kubectl.run("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={name}", "-o", "json").stdout
    )["items"]
    templates = [statefulset.get("spec", {}).get("template", {}).get("spec", {}), *(p["spec"] for p in pods)]
    return any(v["name"] == volume for spec in templates for v in spec.get("volumes") or [])


def first_template(kubectl: Kubectl, name: str, namespace: str) -> dict[str, Any] | None:
    """The pod template of the StatefulSet's first revision (its history keeps it after later changes)."""
    listed = json.loads(kubectl.run("get", "controllerrevisions", "-n", namespace, "-o", "json").stdout)["items"]
    owned = [r for r in listed if any(o["name"] == name for o in r["metadata"].get("ownerReferences") or [])]
    first: dict[str, Any] | None = (
        min(owned, key=lambda r: r["revision"])["data"]["spec"]["template"]["spec"] if owned else None
    )
    return first

"""Database manifests and the waits the end-to-end tests share."""

import time
import uuid
from typing import Any

from tests.e2e.cluster import Kubectl, wait_for


def database(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "database.example.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}, **spec},
    }


def wait_ready(kubectl: Kubectl, name: str, namespace: str, timeout: float = 120) -> dict[str, Any]:
    """Until status says Ready for the current generation; returns the Database."""

    def ready() -> dict[str, Any] | None:
        db = kubectl.get("database", name, namespace)
        if db is None:
            return None
        status = db.get("status") or {}
        current = status.get("observedGeneration") == db["metadata"]["generation"]
        return db if current and status.get("phase") == "Ready" and status.get("ready") else None

    return wait_for(f"Database {namespace}/{name} to be Ready", ready, timeout=timeout)


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

"""Dynamic PersistentVolume provisioner of the local cluster's real node (started by toolchain/cluster.sh).

For every PersistentVolumeClaim of a StorageClass whose provisioner is ours, once its pod is on our node (or the
scheduler picked our node for it), it makes a directory under --volumes and a `local` PersistentVolume pinned to the
node and pre-bound to the claim; Kubernetes' own PV controller then binds them. A released volume whose reclaim policy
is Delete loses its directory and its PersistentVolume; with Retain both stay. A claim whose request grows is expanded
by raising the volume's capacity and the claim's status (a directory has no size to grow; nothing enforces the size).

The scheduler places a pod before its new claim is bound (cluster.sh disables its volume plugins), so the kubelet
usually tries the pod first, fails on the unbound claim and waits 10-15 s (its fixed back-off) before trying again.
Once every claim of such a pending pod is bound, the provisioner annotates the pod: a change the kubelet acts on at
once.

Standard library only (cluster.sh runs outside the project's virtualenv). Level-triggered: watches on claims, volumes
and the node's pods only wake the loop, which then reconciles everything from fresh lists.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ANNOTATION_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANNOTATION_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANNOTATION_CLAIMS_BOUND = "dbop.local/claims-bound"
RESYNC_SECONDS = 30
SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": 10**-3,
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
QUANTITY = re.compile(r"^([0-9.]+)(?:[eE]([0-9]+))?([a-zA-Z]*)$")

Object = dict[str, Any]


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def quantity_bytes(quantity: str) -> float:
    """A resource.Quantity as a number ("1Gi" -> 1073741824)."""
    match = QUANTITY.match(quantity.strip())
    if not match or match.group(3) not in SUFFIXES:
        raise ValueError(f"not a quantity: {quantity!r}")
    exponent = int(match.group(2) or 0)
    return float(match.group(1)) * 10.0**exponent * float(SUFFIXES[match.group(3)])


class Api:
    """Just enough of the Kubernetes API over HTTPS with a client certificate."""

    def __init__(self, server: str, ca: str, cert: str, key: str) -> None:
        parts = urlsplit(server)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 443
        self.context = ssl.create_default_context(cafile=ca)
        self.context.load_cert_chain(cert, key)

    def _connection(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)

    def request(self, method: str, path: str, body: Object | None = None, patch: bool = False) -> Object | None:
        """The decoded answer; None for 404 (gone) and 409 (already exists)."""
        connection = self._connection(30)
        try:
            headers = {"Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/merge-patch+json" if patch else "application/json"
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status in (404, 409):
            return None
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
        answer: Object = json.loads(payload)
        return answer

    def items(self, path: str) -> list[Object]:
        answer = self.request("GET", path)
        return list(answer["items"]) if answer else []

    def watch(self, path: str) -> Iterator[bytes]:
        """Lines of a watch; ends when the server closes it."""
        connection = self._connection(RESYNC_SECONDS * 10)
        try:
            separator = "&" if "?" in path else "?"
            connection.request("GET", f"{path}{separator}watch=1&timeoutSeconds={RESYNC_SECONDS * 8}")
            response = connection.getresponse()
            if response.status != 200:
                raise RuntimeError(f"watch {path}: {response.status}")
            yield from response
        finally:
            connection.close()


class Provisioner:
    def __init__(self, api: Api, name: str, node: str, volumes: Path) -> None:
        self.api = api
        self.name = name
        self.node = node
        self.volumes = volumes
        self.wake = threading.Event()

    # --------------------------------------------------------------------------------------------- the loop
    def watch_forever(self, path: str) -> None:
        while True:
            try:
                for _ in self.api.watch(path):
                    self.wake.set()
            except Exception as error:
                log(f"watch {path}: {error}")
                time.sleep(1)

    def run(self) -> None:
        for path in (
            "/api/v1/persistentvolumeclaims",
            "/api/v1/persistentvolumes",
            f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.node}",
        ):
            threading.Thread(target=self.watch_forever, args=(path,), daemon=True).start()
        log(f"provisioner {self.name} for node {self.node}: volumes in {self.volumes}")
        while True:
            self.wake.wait(RESYNC_SECONDS)
            self.wake.clear()
            try:
                self.reconcile()
            except Exception as error:
                log(f"reconcile failed: {error}")
                time.sleep(1)

    def reconcile(self) -> None:
        classes = {
            c["metadata"]["name"]: c
            for c in self.api.items("/apis/storage.k8s.io/v1/storageclasses")
            if c.get("provisioner") == self.name
        }
        claims = self.api.items("/api/v1/persistentvolumeclaims")
        volumes = {v["metadata"]["name"]: v for v in self.api.items("/api/v1/persistentvolumes")}
        pods = self.api.items(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.node}")
        wanted = {(pod["metadata"]["namespace"], claim) for pod in pods for claim in claims_of(pod)}
        for claim in claims:
            storage_class = classes.get(claim["spec"].get("storageClassName") or "")
            if storage_class is None:
                continue
            volume = volumes.get(claim["spec"].get("volumeName") or "")
            if volume is None and self.is_for_us(claim, wanted):
                self.provision(claim, storage_class)
            elif volume is not None and self.is_ours(volume):
                self.expand(claim, volume)
        for volume in volumes.values():
            if self.is_ours(volume) and volume.get("status", {}).get("phase") == "Released":
                self.reclaim(volume)
        bound = {
            (claim["metadata"]["namespace"], claim["metadata"]["name"])
            for claim in claims
            if claim.get("status", {}).get("phase") == "Bound"
        }
        for pod in pods:
            self.nudge_if_bound(pod, bound)

    # ---------------------------------------------------------------------------------------------- checks
    def is_for_us(self, claim: Object, wanted: set[tuple[str, str]]) -> bool:
        """A pending claim whose pod runs on our node, or for which the scheduler chose our node."""
        metadata = claim["metadata"]
        if claim.get("status", {}).get("phase") != "Pending" or metadata.get("deletionTimestamp"):
            return False
        if (claim["spec"].get("volumeMode") or "Filesystem") != "Filesystem":
            return False
        selected = (metadata.get("annotations") or {}).get(ANNOTATION_SELECTED_NODE)
        return selected == self.node or (metadata["namespace"], metadata["name"]) in wanted

    def is_ours(self, volume: Object) -> bool:
        annotations = volume["metadata"].get("annotations") or {}
        return bool(annotations.get(ANNOTATION_PROVISIONED_BY) == self.name and self.directory_of(volume))

    def directory_of(self, volume: Object) -> Path | None:
        """The volume's directory if it is one of ours (under --volumes, named after the volume)."""
        path = (volume["spec"].get("local") or {}).get("path")
        if not path or Path(path) != self.volumes / volume["metadata"]["name"]:
            return None
        return Path(path)

    # --------------------------------------------------------------------------------------------- actions
    def nudge_if_bound(self, pod: Object, bound: set[tuple[str, str]]) -> None:
        """Annotate a pending pod once every claim it mounts is bound, so the kubelet syncs it now instead of after
        its back-off (once per pod)."""
        metadata = pod["metadata"]
        claims = claims_of(pod)
        if (
            not claims
            or (pod.get("status") or {}).get("phase") != "Pending"
            or ANNOTATION_CLAIMS_BOUND in (metadata.get("annotations") or {})
            or metadata.get("deletionTimestamp")
            or not all((metadata["namespace"], claim) in bound for claim in claims)
        ):
            return
        path = f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}"
        self.api.request("PATCH", path, {"metadata": {"annotations": {ANNOTATION_CLAIMS_BOUND: "true"}}}, patch=True)

    def provision(self, claim: Object, storage_class: Object) -> None:
        metadata = claim["metadata"]
        name = f"pvc-{metadata['uid']}"
        directory = self.volumes / name
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # any pod user may write; fsGroup pods get the group set by the kubelet
        size = claim["spec"]["resources"]["requests"]["storage"]
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {ANNOTATION_PROVISIONED_BY: self.name}},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": claim["spec"].get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
                "storageClassName": storage_class["metadata"]["name"],
                "volumeMode": "Filesystem",
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": metadata["namespace"],
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                },
                "local": {"path": str(directory)},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [self.node]}
                                ]
                            }
                        ]
                    }
                },
            },
        }
        if self.api.request("POST", "/api/v1/persistentvolumes", volume) is not None:
            log(f"provisioned {name} ({size}) for {metadata['namespace']}/{metadata['name']}")

    def expand(self, claim: Object, volume: Object) -> None:
        """Grow the volume and the claim's status to the claim's request (never shrink)."""
        requested = claim["spec"]["resources"]["requests"]["storage"]
        capacity = volume["spec"]["capacity"]["storage"]
        if quantity_bytes(requested) > quantity_bytes(capacity):
            self.api.request(
                "PATCH",
                f"/api/v1/persistentvolumes/{volume['metadata']['name']}",
                {"spec": {"capacity": {"storage": requested}}},
                patch=True,
            )
            log(f"expanded {volume['metadata']['name']} from {capacity} to {requested}")
            capacity = requested
        status = claim.get("status") or {}
        shown = (status.get("capacity") or {}).get("storage") or "0"
        if status.get("phase") == "Bound" and quantity_bytes(capacity) > quantity_bytes(shown):
            metadata = claim["metadata"]
            self.api.request(
                "PATCH",
                f"/api/v1/namespaces/{metadata['namespace']}/persistentvolumeclaims/{metadata['name']}/status",
                {
                    "status": {
                        "capacity": {"storage": capacity},
                        "allocatedResources": {"storage": capacity},
                        "allocatedResourceStatuses": None,
                        "conditions": None,
                    }
                },
                patch=True,
            )

    def reclaim(self, volume: Object) -> None:
        name = volume["metadata"]["name"]
        if volume["spec"].get("persistentVolumeReclaimPolicy") != "Delete":
            return
        directory = self.directory_of(volume)
        if directory is not None and directory.exists():
            shutil.rmtree(directory)
        self.api.request("DELETE", f"/api/v1/persistentvolumes/{name}")
        log(f"deleted released volume {name} and its directory")


def claims_of(pod: Object) -> list[str]:
    """The names of the claims a pod mounts (its generic ephemeral volumes' included)."""
    claims = []
    for volume in pod["spec"].get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            claims.append(volume["persistentVolumeClaim"]["claimName"])
        elif "ephemeral" in volume:
            claims.append(f"{pod['metadata']['name']}-{volume['name']}")
    return claims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="API server URL")
    parser.add_argument("--ca", required=True, help="CA certificate of the API server")
    parser.add_argument("--cert", required=True, help="client certificate")
    parser.add_argument("--key", required=True, help="client key")
    parser.add_argument("--name", required=True, help="provisioner name (StorageClass .provisioner)")
    parser.add_argument("--node", required=True, help="the real node's name")
    parser.add_argument("--volumes", required=True, type=Path, help="directory holding one directory per volume")
    args = parser.parse_args()
    args.volumes.mkdir(parents=True, exist_ok=True)
    api = Api(args.server, args.ca, args.cert, args.key)
    Provisioner(api, args.name, args.node, args.volumes.resolve()).run()


if __name__ == "__main__":
    main()

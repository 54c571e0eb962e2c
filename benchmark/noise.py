"""Other people's objects: Pods and ConfigMaps in namespaces without Databases, changed over and over while the
operator idles, to show what a busy cluster costs an operator that watches everything."""

import json
import threading
from typing import Any

from tests.e2e.cluster import Kubectl

NAMESPACES = [f"noise-{index}" for index in range(10)]
KWOK_NODES = 3


def _objects(namespace: str, count: int, first_node: int) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "noise"}
    objects: list[dict[str, Any]] = []
    for index in range(count):
        name = f"noise-{index:03d}"
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels},
                        "data": {"payload": "x" * 512}})  # fmt: skip
        # Bound to a kwok node directly: the scheduler and the nodes' pod capacity are not what is measured.
        node = f"kwok-node-{(first_node + index) % KWOK_NODES}"
        container = {"name": "app", "image": "noise.invalid/app:1"}
        objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                        "spec": {"nodeName": node, "containers": [container]}})  # fmt: skip
    return objects


def create(kubectl: Kubectl, total: int) -> None:
    """`total` Pods and as many ConfigMaps, spread over the noise namespaces."""
    per_namespace = total // len(NAMESPACES)
    for index, namespace in enumerate(NAMESPACES):
        kubectl.run("create", "namespace", namespace)
        objects = {"apiVersion": "v1", "kind": "List", "items": _objects(namespace, per_namespace, index)}
        kubectl.run("apply", "-n", namespace, "-f", "-", stdin=json.dumps(objects))


class Churn:
    """Annotates every noise object again and again, one namespace after the other, until stopped."""

    def __init__(self, kubectl: Kubectl, total: int) -> None:
        self.kubectl = kubectl
        self.per_round = 2 * (total // len(NAMESPACES))
        self.updates = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        generation = 0
        while not self._stop.is_set():
            generation += 1
            for namespace in NAMESPACES:
                if self._stop.is_set():
                    return
                self.kubectl.run(
                    "annotate", "pods,configmaps", "--all", "-n", namespace, f"churn={generation}", "--overwrite"
                )
                self.updates += self.per_round

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.updates

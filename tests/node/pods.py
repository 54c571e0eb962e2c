"""Manifests and helpers for the real node's tests: pods from the locally built images, claims, waiting, exec."""

from typing import Any

from tests.e2e.cluster import Kubectl

READY_TIMEOUT = "110s"  # within the 120 s Kubectl.run allows a command
SLEEPER = ["sh", "-c", "echo started-on-the-real-node; exec sleep infinity"]


def pod(name: str, image: str, command: list[str], **spec: Any) -> dict[str, Any]:
    """A one-container pod (container "main"); `container=` adds to the container, other keywords to the spec."""
    container = {"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec},
    }


def claim(name: str, size: str) -> dict[str, Any]:
    """A claim of the default StorageClass."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def with_volume(manifest: dict[str, Any], volume: dict[str, Any], path: str) -> dict[str, Any]:
    """The pod with `volume` mounted at `path` in its container."""
    manifest["spec"].setdefault("volumes", []).append(volume)
    manifest["spec"]["containers"][0].setdefault("volumeMounts", []).append({"name": volume["name"], "mountPath": path})
    return manifest


def with_claim(manifest: dict[str, Any], claim_name: str, path: str) -> dict[str, Any]:
    return with_volume(manifest, {"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}, path)


def server(name: str, image: str, script: str, data: str, probe: list[str]) -> dict[str, Any]:
    """A database server pod: `script` prepares and starts it, data in an emptyDir at `data`, Ready when `probe` is."""
    readiness = {"readinessProbe": {"exec": {"command": probe}, "periodSeconds": 1}}
    return with_volume(
        pod(name, image, ["sh", "-c", script], container=readiness), {"name": "data", "emptyDir": {}}, data
    )


def start(kubectl: Kubectl, namespace: str, manifest: dict[str, Any]) -> None:
    """Create the pod and wait until it is Ready (failing with its description if it is not)."""
    kubectl.apply(manifest, "-n", namespace)
    name = manifest["metadata"]["name"]
    result = kubectl.run(
        "wait", "-n", namespace, "--for=condition=Ready", f"pod/{name}", f"--timeout={READY_TIMEOUT}", check=False
    )
    if result.returncode != 0:
        described = kubectl.run("describe", "pod", name, "-n", namespace, check=False).stdout
        raise AssertionError(f"pod {name} did not become Ready: {result.stderr}\n{described[-3000:]}")


def exec_in(kubectl: Kubectl, namespace: str, name: str, *command: str) -> str:
    return kubectl.run("exec", "-n", namespace, name, "--", *command).stdout

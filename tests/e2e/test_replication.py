"""Replicas on the local cluster: the read-write Service reaches the primary only (pod 0 of a new Database, the
pod the operator labels primary), the read-only Service the replicas only, and the status names the primary and
lists each pod with its role. (Replication itself runs against real servers in
tests/servers/test_replication.py: kwok pods run no containers.)"""

import json
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.databases import database, wait_ready


def endpoint_pods(kubectl: Kubectl, service: str, namespace: str) -> list[str]:
    """The pods a Service's EndpointSlices route to, as the EndpointSlice controller sees them."""
    selector = f"kubernetes.io/service-name={service}"
    slices = json.loads(kubectl.run("get", "endpointslices", "-n", namespace, "-l", selector, "-o", "json").stdout)
    return sorted(endpoint["targetRef"]["name"] for item in slices["items"] for endpoint in item.get("endpoints") or [])


def selector(kubectl: Kubectl, service: str, namespace: str) -> dict[str, Any]:
    found = kubectl.get("service", service, namespace)
    assert found is not None, f"Service {service} is missing"
    result: dict[str, Any] = found["spec"]["selector"]
    return result


@pytest.mark.parametrize(("engine", "version", "port"), [("mysql", "8.0", 3306), ("postgresql", "16", 5432)])
def test_read_write_and_read_only_services_route_to_the_primary_and_the_replicas(
    kubectl: Kubectl, namespace: str, engine: str, version: str, port: int
) -> None:
    kubectl.apply(database("shop", namespace, type=engine, version=version, replicas=3))
    db = wait_ready(kubectl, "shop", namespace)

    assert selector(kubectl, "shop", namespace)["database.example.com/role"] == "primary"
    assert selector(kubectl, "shop-ro", namespace)["database.example.com/role"] == "replica"
    assert db["status"]["outputs"]["readOnlyEndpoint"] == f"shop-ro.{namespace}.svc:{port}"
    wait_for("pod 0 behind shop", lambda: endpoint_pods(kubectl, "shop", namespace) == ["shop-0"])
    replicas = ["shop-1", "shop-2"]
    wait_for("the replicas behind shop-ro", lambda: endpoint_pods(kubectl, "shop-ro", namespace) == replicas)
    roles = {
        pod["metadata"]["name"]: pod["metadata"]["labels"].get("database.example.com/role")
        for pod in json.loads(kubectl.run("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    }
    assert roles == {"shop-0": "primary", "shop-1": "replica", "shop-2": "replica"}

    def instances() -> list[dict[str, Any]] | None:
        found = (kubectl.get("database", "shop", namespace) or {}).get("status", {}).get("instances")
        return found if found and len(found) == 3 and all(item["ready"] for item in found) else None

    assert [(item["pod"], item["role"]) for item in wait_for("status.instances", instances)] == [
        ("shop-0", "primary"),
        ("shop-1", "replica"),
        ("shop-2", "replica"),
    ]
    assert (kubectl.get("database", "shop", namespace) or {})["status"]["currentPrimary"] == "shop-0"


def test_scaling_down_removes_the_highest_replicas(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("shop", namespace, replicas=3))
    wait_ready(kubectl, "shop", namespace)
    kubectl.run("scale", "db/shop", "-n", namespace, "--replicas=2")

    wait_for("shop-2 gone from shop-ro", lambda: endpoint_pods(kubectl, "shop-ro", namespace) == ["shop-1"])
    wait_for(
        "status.instances without shop-2",
        lambda: (
            [item["pod"] for item in kubectl.get("database", "shop", namespace)["status"].get("instances", [])]
            == ["shop-0", "shop-1"]
        ),
    )
    assert endpoint_pods(kubectl, "shop", namespace) == ["shop-0"]

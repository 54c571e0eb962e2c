"""Network isolation enforced on the real node: the Database's NetworkPolicy, applied by kube-router's policy
controller (toolchain/node/node.sh), admits the database port only from the clients spec.network names, the
Database's replicas and its backup Jobs.

One PostgreSQL Database with a replica and backups serves every assertion: an allowed client pod connects
through the Service while a pod of the same namespace without the label and a pod of another namespace cannot
reach the port; naming the other namespace in spec.network lets its pod in; the replica still follows the
primary; a backup Job still dumps the database. Needs the real node (not `DBOP_NODE=kwok`)."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.databases import wait_ready
from tests.e2e.test_real_databases import (  # noqa: F401 (namespace, real_node, real_operator: fixtures)
    CLIENT_IMAGE,
    READY_TIMEOUT,
    backed_up,
    database,
    namespace,
    query,
    real_node,
    real_operator,
    rows_or_none,
)
from tests.node.pods import pod as pod_manifest

CLIENT_LABELS = {"role": "shop-client"}


@pytest.fixture
def other_namespace(kubectl: Kubectl) -> Iterator[str]:
    """A namespace the Database does not live in (its pods go to the real node too)."""
    name = f"outside-{uuid.uuid4().hex[:8]}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def prober(kubectl: Kubectl, ns: str, name: str, labels: dict[str, str] | None = None) -> str:
    """A pod with netcat and the database clients (the application user's password from shop's Secret, which
    only pods of shop's namespace can read), Ready; `labels` are added to its own."""
    password = {"valueFrom": {"secretKeyRef": {"name": "shop-credentials", "key": "password", "optional": True}}}
    manifest = pod_manifest(
        name, CLIENT_IMAGE, ["sleep", "infinity"], container={"env": [{"name": "PGPASSWORD", **password}]}
    )
    manifest["metadata"]["labels"].update(labels or {})
    kubectl.apply(manifest, "-n", ns)
    kubectl.run("wait", "-n", ns, "--for=condition=Ready", f"pod/{name}", "--timeout=110s")
    return name


def reaches(kubectl: Kubectl, ns: str, pod: str, address: str) -> bool:
    """Whether `pod` opens a TCP connection to `address` (host port) within 3 seconds."""
    host, port = address.split(":")
    result = kubectl.run("exec", "-n", ns, pod, "--", "nc", "-z", "-w", "3", host, port, check=False)
    return result.returncode == 0


def network(*peers: dict[str, Any]) -> dict[str, Any]:
    return {"network": {"allowedClients": [{"podSelector": {"matchLabels": CLIENT_LABELS}}, *peers]}}


def test_only_the_named_clients_reach_the_database_and_replication_and_backups_still_work(
    kubectl: Kubectl,
    namespace: str,  # noqa: F811 (the fixture)
    other_namespace: str,
) -> None:
    kubectl.apply(database("shop", namespace, "postgresql", replicas=2, backup={"enabled": True}, **network()))
    wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)
    client = prober(kubectl, namespace, "client", CLIENT_LABELS)
    query(kubectl, namespace, client, "postgresql", "shop", "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    address = f"shop.{namespace}.svc.cluster.local:5432"
    neighbour = prober(kubectl, namespace, "neighbour")
    outsider = prober(kubectl, other_namespace, "outsider")

    wait_for("the pod without the label to be refused", lambda: not reaches(kubectl, namespace, neighbour, address))
    assert not reaches(kubectl, other_namespace, outsider, address)
    assert reaches(kubectl, namespace, client, address)

    # The replica copies and streams from the primary through the same port.
    query(kubectl, namespace, client, "postgresql", "shop", "INSERT INTO notes VALUES (1, 'replicated')")
    on_the_replica = wait_for(
        "the row through shop-ro", lambda: rows_or_none(kubectl, namespace, client, "postgresql", "shop-ro")
    )
    assert on_the_replica == "1\treplicated\n"

    # A backup Job connects through the Service like any client: the policy admits it by its labels.
    backup = backed_up(kubectl, namespace, "shop", "isolated")
    assert backup["status"]["sizeBytes"] > 0, backup["status"]

    # Naming the other namespace lets its pods in: the policy, nothing else, kept the outsider out.
    other = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": other_namespace}}}
    kubectl.run(
        "patch", "database", "shop", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": network(other)})
    )
    wait_for("the named namespace's pod to connect", lambda: reaches(kubectl, other_namespace, outsider, address))
    assert not reaches(kubectl, namespace, neighbour, address)

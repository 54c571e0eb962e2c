"""The real node enforces NetworkPolicies (kube-router's policy controller, toolchain/node/node.sh): a policy that
admits only labelled pods shuts out a pod of another namespace, and deleting it lets that pod in again."""

import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Kubectl, wait_for
from tests.node.pods import SLEEPER, pod, start

LISTENER = ["sh", "-c", "while true; do nc -l -p 8080 </dev/null; done"]
POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "listener"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "listener"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": [{"port": 8080}]}],
    },
}


@pytest.fixture
def other_namespace(node_kubectl: Kubectl) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:8]}"
    node_kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for("the namespace's ServiceAccount", lambda: node_kubectl.get("serviceaccount", "default", name), timeout=30)
    yield name
    node_kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def connects(kubectl: Kubectl, namespace: str, client: str, address: str) -> bool:
    command = ["exec", "-n", namespace, client, "--", "nc", "-z", "-w", "3", address, "8080"]
    return kubectl.run(*command, check=False).returncode == 0


def test_a_network_policy_shuts_out_what_it_does_not_name(
    node_kubectl: Kubectl, node_namespace: str, other_namespace: str, images: dict[str, str]
) -> None:
    tools = images["localhost/debian-tools"]
    start(node_kubectl, node_namespace, pod("listener", tools, LISTENER))
    client = pod("client", tools, SLEEPER)
    client["metadata"]["labels"]["role"] = "client"
    start(node_kubectl, node_namespace, client)
    start(node_kubectl, other_namespace, pod("stranger", tools, SLEEPER))
    listener = node_kubectl.get("pod", "listener", node_namespace)
    assert listener is not None
    address = listener["status"]["podIP"]
    assert wait_for("the stranger to connect", lambda: connects(node_kubectl, other_namespace, "stranger", address))

    node_kubectl.apply(POLICY, "-n", node_namespace)
    wait_for("the stranger to be shut out", lambda: not connects(node_kubectl, other_namespace, "stranger", address))
    assert connects(node_kubectl, node_namespace, "client", address)

    node_kubectl.run("delete", "networkpolicy", "listener", "-n", node_namespace)
    assert wait_for(
        "the stranger to connect again", lambda: connects(node_kubectl, other_namespace, "stranger", address)
    )

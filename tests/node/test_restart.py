"""`cluster.sh stop` and `start` keep the real node's volumes: the pods come back and find their data."""

import subprocess

from tests.e2e.cluster import Kubectl, wait_for
from tests.node.conftest import CLUSTER, START_TIMEOUT
from tests.node.pods import SLEEPER, claim, pod, start, with_claim


def test_a_volume_keeps_its_data_across_a_cluster_restart(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    node_kubectl.apply(claim("data", "1Gi"), "-n", node_namespace)
    keeper = with_claim(pod("keeper", images["localhost/debian-tools"], SLEEPER), "data", "/data")
    start(node_kubectl, node_namespace, keeper)
    node_kubectl.run("exec", "-n", node_namespace, "keeper", "--", "sh", "-c", "echo before-the-restart > /data/proof")

    subprocess.run([CLUSTER, "stop"], check=True, timeout=300)
    subprocess.run([CLUSTER, "start"], check=True, timeout=START_TIMEOUT)

    def proof() -> str | None:
        result = node_kubectl.run("exec", "-n", node_namespace, "keeper", "--", "cat", "/data/proof", check=False)
        return result.stdout if result.returncode == 0 else None

    assert wait_for("the pod to run again with its volume", proof, timeout=120) == "before-the-restart\n"

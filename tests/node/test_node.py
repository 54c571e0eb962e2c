"""Smoke tests of the local cluster's real node: real containers from the locally built images, logs, exec, volumes,
Services with cluster DNS, port-forward, the host reaching pods (and nothing beyond the machine), and the database
images' servers answering a query."""

import ipaddress
import re
import subprocess
import urllib.request
from pathlib import Path

from tests.e2e.cluster import Kubectl, wait_for
from tests.node.conftest import CLUSTER
from tests.node.pods import SLEEPER, claim, exec_in, pod, server, start, with_claim


def test_a_pod_runs_on_the_real_node_with_logs_and_exec(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    start(node_kubectl, node_namespace, pod("tools", images["localhost/debian-tools"], SLEEPER))

    placed = node_kubectl.get("pod", "tools", node_namespace)
    assert placed is not None
    node = node_kubectl.get("node", placed["spec"]["nodeName"], "")
    assert node is not None and node["metadata"]["labels"]["type"] == "real"
    logs = node_kubectl.run("logs", "-n", node_namespace, "tools").stdout
    assert "started-on-the-real-node" in logs
    assert exec_in(node_kubectl, node_namespace, "tools", "cat", "/etc/debian_version").startswith("12")


def test_a_claim_binds_and_its_data_survives_the_pod_and_grows(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    node_kubectl.apply(claim("data", "1Gi"), "-n", node_namespace)
    start(
        node_kubectl,
        node_namespace,
        with_claim(pod("writer", images["localhost/debian-tools"], SLEEPER), "data", "/data"),
    )
    exec_in(node_kubectl, node_namespace, "writer", "sh", "-c", "echo kept-across-pods > /data/proof")
    bound = node_kubectl.get("pvc", "data", node_namespace)
    assert bound is not None and bound["status"]["phase"] == "Bound"

    node_kubectl.run("delete", "pod", "writer", "-n", node_namespace, "--wait=true", "--timeout=60s")
    start(
        node_kubectl,
        node_namespace,
        with_claim(pod("reader", images["localhost/debian-tools"], SLEEPER), "data", "/data"),
    )
    assert exec_in(node_kubectl, node_namespace, "reader", "cat", "/data/proof") == "kept-across-pods\n"

    node_kubectl.run(
        "patch", "pvc", "data", "-n", node_namespace, "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}'
    )

    def capacity() -> str | None:
        grown = node_kubectl.get("pvc", "data", node_namespace) or {}
        shown = grown.get("status", {}).get("capacity", {}).get("storage")
        return shown if shown == "2Gi" else None

    wait_for("the claim to show its new size", capacity, timeout=60)
    assert exec_in(node_kubectl, node_namespace, "reader", "cat", "/data/proof") == "kept-across-pods\n"

    # reclaim policy Delete: once the claim is gone, so are the volume and its directory
    volume = node_kubectl.get("pv", bound["spec"]["volumeName"], "")
    assert volume is not None
    directory = Path(volume["spec"]["local"]["path"])
    assert (directory / "proof").read_text() == "kept-across-pods\n"
    node_kubectl.run("delete", "pod", "reader", "-n", node_namespace, "--wait=true", "--timeout=60s")
    node_kubectl.run("delete", "pvc", "data", "-n", node_namespace, "--wait=true", "--timeout=60s")
    wait_for(
        "the released volume to be deleted", lambda: node_kubectl.get("pv", volume["metadata"]["name"], "") is None
    )
    assert not directory.exists()


WEB = ["sh", "-c", 'while true; do printf "HTTP/1.0 200 OK\\r\\n\\r\\nhello from web\\n" | nc -l -p 8080 -N; done']


def test_a_service_name_resolves_and_its_cluster_ip_carries_traffic(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    tools = images["localhost/debian-tools"]
    # hostname + subdomain: a name of its own under a headless Service, as a StatefulSet's pods get
    web = pod("web", tools, WEB, hostname="web-0", subdomain="peers", container={"ports": [{"containerPort": 8080}]})
    start(node_kubectl, node_namespace, web)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    node_kubectl.apply(service, "-n", node_namespace)
    headless = {**service, "metadata": {"name": "peers"}, "spec": {**service["spec"], "clusterIP": "None"}}
    node_kubectl.apply(headless, "-n", node_namespace)
    created = node_kubectl.get("service", "web", node_namespace)
    assert created is not None
    cluster_ip = created["spec"]["clusterIP"]
    start(node_kubectl, node_namespace, pod("client", tools, SLEEPER))

    name = f"web.{node_namespace}.svc.cluster.local"
    resolved = exec_in(node_kubectl, node_namespace, "client", "getent", "hosts", name).split()
    assert resolved[0] == cluster_ip
    running = node_kubectl.get("pod", "web", node_namespace)
    assert running is not None

    def pod_name() -> str | None:
        result = node_kubectl.run(
            "exec",
            "-n",
            node_namespace,
            "client",
            "--",
            "getent",
            "hosts",
            f"web-0.peers.{node_namespace}.svc.cluster.local",
            check=False,
        )
        return result.stdout.split()[0] if result.returncode == 0 else None

    assert wait_for("the pod's own name to resolve", pod_name, timeout=30) == running["status"]["podIP"]

    def answer() -> str | None:
        result = node_kubectl.run(
            "exec", "-n", node_namespace, "client", "--", "curl", "-sS", "-m", "5", "http://web/", check=False
        )
        return result.stdout if result.returncode == 0 else None

    assert wait_for("the Service to answer through its ClusterIP", answer, timeout=60) == "hello from web\n"

    # the API server through the kubernetes Service, with the pod's ServiceAccount CA
    ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    api = exec_in(
        node_kubectl,
        node_namespace,
        "client",
        "curl",
        "-sS",
        "-m",
        "5",
        "--cacert",
        ca,
        "https://kubernetes.default.svc/readyz",
    )
    assert api == "ok"


def test_nothing_beyond_the_machine_is_reachable_from_a_pod(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    start(node_kubectl, node_namespace, pod("client", images["localhost/debian-tools"], SLEEPER))
    # no route out of the pod (and none out of the node's namespace behind it)
    route = node_kubectl.run(
        "exec", "-n", node_namespace, "client", "--", "ip", "route", "get", "192.0.2.1", check=False
    )
    assert route.returncode != 0 and "unreachable" in route.stderr.lower(), route.stdout + route.stderr
    curl = ["curl", "-sS", "-m", "3", "http://192.0.2.1/"]
    assert node_kubectl.run("exec", "-n", node_namespace, "client", "--", *curl, check=False).returncode != 0
    # names outside the cluster do not resolve either (CoreDNS forwards nothing)
    assert (
        node_kubectl.run(
            "exec", "-n", node_namespace, "client", "--", "getent", "hosts", "example.com", check=False
        ).returncode
        != 0
    )


def test_the_api_server_reaches_pods_by_service_proxy_and_webhook_and_nothing_else_leaves_the_machine(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    # the server logs each request it gets (a TLS client's hello too: binary, printed as one line of printables)
    echoing_web = ["sh", "-c", WEB[2].replace("-N;", "-N | tr -c '[:print:]' .; echo;")]
    start(node_kubectl, node_namespace, pod("web", images["localhost/debian-tools"], echoing_web))
    service = {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    node_kubectl.apply(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": service}, "-n", node_namespace
    )

    def proxied(path: str) -> str | None:
        result = node_kubectl.run("get", "--raw", f"/api/v1/namespaces/{node_namespace}/{path}/proxy/", check=False)
        return result.stdout if result.returncode == 0 else None

    assert wait_for("the service proxy", lambda: proxied("services/web:http"), timeout=60) == "hello from web\n"
    assert proxied("pods/web:8080") == "hello from web\n"

    # A webhook behind the Service is called at the pod's IP (--enable-aggregator-routing), not at the ClusterIP
    # only the node routes: the pod sees the API server's TLS hello, which names the Service. (The server speaks no
    # TLS, so the call fails and the ConfigMap is refused: failurePolicy Fail.)
    webhook = f"route-{node_namespace}.dbop.local"
    client_config = {"service": {"namespace": node_namespace, "name": "web", "port": 80, "path": "/"}}
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}
    selector = {"matchLabels": {"kubernetes.io/metadata.name": node_namespace}}
    hook = {
        "name": webhook,
        "clientConfig": client_config,
        "rules": [rule],
        "namespaceSelector": selector,
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 5,
    }
    configuration = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": webhook},
        "webhooks": [hook],
    }
    node_kubectl.apply(configuration)
    try:
        refused = node_kubectl.run("create", "configmap", "probe", "-n", node_namespace, check=False)
        assert refused.returncode != 0 and webhook in refused.stderr, refused.stderr
        logs = node_kubectl.run("logs", "-n", node_namespace, "web").stdout
        assert f"web.{node_namespace}.svc" in logs, refused.stderr
    finally:
        node_kubectl.run("delete", "validatingwebhookconfiguration", webhook, check=False)

    # The host (e.g. the operator reading exporters) reaches this node's pods by their IPs; other pod, Service and
    # kwok addresses are unreachable on the host instead of leaving the machine by its default route.
    pod_ip = (node_kubectl.get("pod", "web", node_namespace) or {})["status"]["podIP"]
    with urllib.request.urlopen(f"http://{pod_ip}:8080/", timeout=10) as response:
        assert response.read() == b"hello from web\n"
    cluster_ip = (node_kubectl.get("service", "web", node_namespace) or {})["spec"]["clusterIP"]
    for address in [cluster_ip, unrouted_pod_address(node_kubectl), "10.244.0.1"]:
        route = route_get(address)
        assert route.returncode != 0 and "no route to host" in route.stderr.lower(), (address, route)


def route_get(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "-4", "route", "get", address], capture_output=True, text=True, check=False)


def unrouted_pod_address(kubectl: Kubectl) -> str:
    """An address of the real nodes' pod range that no node on this machine routes."""
    status = subprocess.run([CLUSTER, "status"], env=kubectl.env, capture_output=True, text=True, check=False).stdout
    supernet = ipaddress.ip_network(re.search(r"unreachable on the host +(\S+)", status).group(1))  # type: ignore[union-attr]
    routes = subprocess.check_output(["ip", "-4", "-o", "route", "show", "root", str(supernet)], text=True)
    routed = [ipaddress.ip_network(line.split()[0]) for line in routes.splitlines() if not line.startswith("unreach")]
    free = next(net for net in supernet.subnets(new_prefix=20) if not any(net.overlaps(r) for r in routed))
    return str(free[1])


def test_port_forward_from_the_host_reaches_a_pod(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    start(node_kubectl, node_namespace, pod("web", images["localhost/debian-tools"], WEB))
    forward = subprocess.Popen(
        ["kubectl", "port-forward", "-n", node_namespace, "pod/web", ":8080"],
        env=node_kubectl.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline()
        port = re.search(r"127\.0\.0\.1:(\d+)", first)
        assert port, f"kubectl port-forward said: {first!r}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/", timeout=10) as response:
            assert response.read() == b"hello from web\n"
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_the_postgresql_image_serves_a_query(
    node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]
) -> None:
    script = (
        "initdb -D /var/lib/postgresql/data/db -U postgres --auth=trust >/dev/null"
        " && exec postgres -D /var/lib/postgresql/data/db -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp"
    )
    probe = ["pg_isready", "-h", "127.0.0.1"]
    server_pod = server("postgresql", images["localhost/postgresql"], script, "/var/lib/postgresql/data", probe)
    start(node_kubectl, node_namespace, server_pod)
    answer = exec_in(
        node_kubectl, node_namespace, "postgresql", "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "select 40 + 2"
    )
    assert answer.strip() == "42"


def test_the_mariadb_image_serves_a_query(node_kubectl: Kubectl, node_namespace: str, images: dict[str, str]) -> None:
    options = "--datadir=/var/lib/mysql --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid --bind-address=127.0.0.1"
    script = f"mariadb-install-db {options} >/dev/null && exec mariadbd {options}"
    probe = ["mariadb-admin", "--socket=/tmp/mysqld.sock", "ping"]
    server_pod = server("mariadb", images["localhost/mariadb"], script, "/var/lib/mysql", probe)
    start(node_kubectl, node_namespace, server_pod)
    # the image runs as the OS user mysql, which mariadb-install-db made a MariaDB user (unix_socket authentication)
    answer = exec_in(
        node_kubectl, node_namespace, "mariadb", "mariadb", "--socket=/tmp/mysqld.sock", "-N", "-e", "select 40 + 2"
    )
    assert answer.strip() == "42"

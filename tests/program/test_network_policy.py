"""The Database's NetworkPolicy: the database port only from the allowed clients, its own replicas and backup Jobs;
the exporter port only from monitoring and the operator (it reads the replicas' lag there).

The full object for a Database with every network setting is in `golden/network-policy-custom.yaml`
(regenerate with `UPDATE_GOLDEN=1 pytest tests/program/test_network_policy.py`)."""

import os
from pathlib import Path
from typing import Any

import yaml

from database_api.network import OPERATOR_POD_LABELS, OperatorPeers
from tests.program.conftest import RenderSpec

GOLDEN = Path(__file__).parent / "golden" / "network-policy-custom.yaml"
POSTGRESQL = {"type": "postgresql", "version": "16", "storage": {"size": "1Gi"}}
METRICS = {"monitoring": {"enabled": True, "metrics": True}}
OPERATOR = OperatorPeers(namespace="database-operator", cidrs=("172.30.0.1/32",))
OPERATOR_PEERS = [
    {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "database-operator"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "database-operator"}},
    },
    {"ipBlock": {"cidr": "172.30.0.1/32"}},
]
OWN_PODS = [
    {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "postgresql",
                "app.kubernetes.io/instance": "orders",
                "app.kubernetes.io/component": component,
            }
        }
    }
    for component in ("database", "backup")
]


def _policy(render: RenderSpec, spec: dict[str, Any], operator: OperatorPeers | None = None) -> dict[str, Any]:
    return render(spec, operator_peers=operator).get("NetworkPolicy", "orders")


def test_by_default_the_database_port_admits_the_namespace_own_pods_and_nothing_else(render: RenderSpec) -> None:
    policy = _policy(render, POSTGRESQL)
    pods = render(POSTGRESQL).get("StatefulSet", "orders")["spec"]["selector"]["matchLabels"]
    assert policy["metadata"]["namespace"] == "shop"
    assert policy["spec"]["podSelector"] == {"matchLabels": pods}
    # Selected for Ingress: whatever no rule names is dropped.
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    # An empty podSelector without namespaceSelector: every pod of the Database's own namespace.
    assert rule["from"] == [*OWN_PODS, {"podSelector": {}}]


def test_the_backup_pods_the_policy_admits_carry_the_labels_the_backup_job_gives_them(render: RenderSpec) -> None:
    rendered = render({**POSTGRESQL, "backup": {"enabled": True}})
    job_pod_labels = rendered.get("CronJob", "orders-backup")["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
        "labels"
    ]
    [rule] = rendered.get("NetworkPolicy", "orders")["spec"]["ingress"]
    backup_peer = rule["from"][1]["podSelector"]["matchLabels"]
    assert backup_peer.items() <= job_pod_labels.items()


def test_an_empty_client_list_admits_only_the_database_own_pods(render: RenderSpec) -> None:
    [rule] = _policy(render, {**POSTGRESQL, "network": {"allowedClients": []}})["spec"]["ingress"]
    assert rule["from"] == OWN_PODS


def test_the_exporter_port_is_open_to_the_monitoring_namespace_only_when_metrics_are_on(render: RenderSpec) -> None:
    [_, exporter] = _policy(render, {**POSTGRESQL, **METRICS})["spec"]["ingress"]
    assert exporter == {
        "ports": [{"protocol": "TCP", "port": 9187}],
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
    }
    assert len(_policy(render, POSTGRESQL)["spec"]["ingress"]) == 1


def test_an_empty_monitoring_list_leaves_the_exporter_port_closed(render: RenderSpec) -> None:
    # An ingress rule with no peers would admit everyone: it must not be rendered at all.
    spec = {**POSTGRESQL, **METRICS, "network": {"monitoring": []}}
    [rule] = _policy(render, spec)["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_the_operator_reads_the_exporter_port_in_and_out_of_the_cluster_but_never_the_database_port(
    render: RenderSpec,
) -> None:
    [database, exporter] = _policy(render, {**POSTGRESQL, **METRICS}, OPERATOR)["spec"]["ingress"]
    assert exporter["from"][:2] == OPERATOR_PEERS
    assert not any(peer in database["from"] for peer in OPERATOR_PEERS)


def test_with_an_empty_monitoring_list_only_the_operator_reads_the_exporter_port(render: RenderSpec) -> None:
    spec = {**POSTGRESQL, **METRICS, "network": {"monitoring": []}}
    [_, exporter] = _policy(render, spec, OPERATOR)["spec"]["ingress"]
    assert exporter == {"ports": [{"protocol": "TCP", "port": 9187}], "from": OPERATOR_PEERS}
    # Without metrics there is no exporter, and no port to open for anyone.
    [_] = _policy(render, POSTGRESQL, OPERATOR)["spec"]["ingress"]


def test_custom_network_settings_match_golden_file(render: RenderSpec) -> None:
    network = {
        "allowedClients": [
            {"podSelector": {"matchLabels": {"app": "shop-api"}}},
            {
                "namespaceSelector": {"matchLabels": {"team": "analytics"}},
                "podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["report"]}]},
            },
        ],
        "monitoring": [{"namespaceSelector": {"matchExpressions": [{"key": "observability", "operator": "Exists"}]}}],
    }
    policy = _policy(render, {**POSTGRESQL, **METRICS, "network": network}, OPERATOR)
    text = yaml.safe_dump(policy, sort_keys=True, width=120)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), f"the NetworkPolicy differs from {GOLDEN.name}; review, then UPDATE_GOLDEN=1"


def test_the_deployed_operator_pods_carry_what_the_policy_admits() -> None:
    """In a cluster the policy knows the operator by its pods' labels and by POD_NAMESPACE: deploy/ must set both."""
    documents = yaml.safe_load_all((Path(__file__).parents[2] / "deploy" / "deployment.yaml").read_text())
    [deployment] = [document for document in documents if document and document["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    assert OPERATOR_POD_LABELS.items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    namespace = {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
    assert namespace in container["env"]

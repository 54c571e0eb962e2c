"""Network isolation: one NetworkPolicy that admits to the database pods only what spec.network names."""

from collections.abc import Iterable

from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, LabelSelectorRequirementArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicy,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from database_api.network import OPERATOR_POD_LABELS, LabelSelector, NetworkPeer, OperatorPeers
from database_program.context import DatabaseContext
from database_program.monitoring import metrics_enabled


def _selector(selector: LabelSelector | None) -> LabelSelectorArgs | None:
    if selector is None:
        return None
    return LabelSelectorArgs(
        match_labels=selector.match_labels,
        match_expressions=[
            LabelSelectorRequirementArgs(key=item.key, operator=item.operator.value, values=item.values)
            for item in selector.match_expressions or []
        ]
        or None,
    )


def _peers(peers: Iterable[NetworkPeer]) -> list[NetworkPolicyPeerArgs]:
    return [
        NetworkPolicyPeerArgs(
            pod_selector=_selector(peer.pod_selector), namespace_selector=_selector(peer.namespace_selector)
        )
        for peer in peers
    ]


def _own_pods(ctx: DatabaseContext) -> list[NetworkPolicyPeerArgs]:
    """The Database's replicas (they copy and stream from the primary) and its backup Jobs' pods."""
    own = {"app.kubernetes.io/name": ctx.spec.engine.value, "app.kubernetes.io/instance": ctx.name}
    return [
        NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels={**own, "app.kubernetes.io/component": c}))
        for c in ("database", "backup")
    ]


def _operator(peers: OperatorPeers) -> list[NetworkPolicyPeerArgs]:
    """The operator, which reads the replicas' lag from their exporters: its pods in its namespace, and the
    addresses it connects from outside the cluster."""
    in_cluster = (
        [
            NetworkPolicyPeerArgs(
                namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": peers.namespace}),
                pod_selector=LabelSelectorArgs(match_labels=OPERATOR_POD_LABELS),
            )
        ]
        if peers.namespace
        else []
    )
    return in_cluster + [NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr)) for cidr in peers.cidrs]


def _port(port: int) -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol="TCP", port=port)]


def network_policy_rules(ctx: DatabaseContext) -> list[NetworkPolicyIngressRuleArgs]:
    """The database port from the allowed clients and the Database's own pods; the exporter port (when metrics
    are on) from monitoring and the operator. An empty peer list allows nobody: the rule is left out rather than
    sent empty, which Kubernetes would read as "from anywhere"."""
    rules = [
        NetworkPolicyIngressRuleArgs(
            ports=_port(ctx.engine.port), from_=[*_own_pods(ctx), *_peers(ctx.spec.network.clients)]
        )
    ]
    scrapers = [*_operator(ctx.operator_peers), *_peers(ctx.spec.network.scrapers)]
    if metrics_enabled(ctx) and scrapers:
        rules.append(NetworkPolicyIngressRuleArgs(ports=_port(ctx.engine.exporter.port), from_=scrapers))
    return rules


def declare_network_policy(ctx: DatabaseContext) -> NetworkPolicy:
    """Selects the database pods; being selected for Ingress, they admit only what a rule names."""
    return NetworkPolicy(
        ctx.name,
        metadata=ctx.metadata(ctx.name),
        spec=NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(match_labels=ctx.selector_labels),
            policy_types=["Ingress"],
            ingress=network_policy_rules(ctx),
        ),
    )

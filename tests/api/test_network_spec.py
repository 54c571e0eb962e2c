"""spec.network: who may connect. Bad selectors are refused with a message that names the field."""

from typing import Any

import pytest

from database_api.network import DEFAULT_MONITORING, SAME_NAMESPACE
from database_api.spec import SpecError, parse_spec

BASE = {"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}}


def errors_for(network: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec({**BASE, "network": network})
    return caught.value.errors


def test_without_network_settings_clients_are_the_namespace_and_scrapers_the_monitoring_namespace() -> None:
    network = parse_spec(BASE).network
    assert network.clients == SAME_NAMESPACE and network.scrapers == DEFAULT_MONITORING


def test_an_empty_list_means_nobody_not_the_default() -> None:
    network = parse_spec({**BASE, "network": {"allowedClients": [], "monitoring": []}}).network
    assert network.clients == () and network.scrapers == ()


def test_selectors_in_networkpolicy_shape_are_accepted() -> None:
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
        "podSelector": {
            "matchLabels": {"app": "api", "tier": ""},
            "matchExpressions": [
                {"key": "example.com/role", "operator": "NotIn", "values": ["batch"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        },
    }
    [parsed] = parse_spec({**BASE, "network": {"allowedClients": [peer]}}).network.clients
    assert parsed.model_dump(by_alias=True, exclude_none=True, mode="json") == peer


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (
            {"allowedClients": [{"podSelector": {"matchLabels": {"bad key!": "x"}}}]},
            "spec.network.allowedClients.0.podSelector.matchLabels: label key 'bad key!': its name must be",
        ),
        (
            {"allowedClients": [{"podSelector": {"matchLabels": {"Not_A.Domain/app": "x"}}}]},
            "spec.network.allowedClients.0.podSelector.matchLabels: label key 'Not_A.Domain/app': its prefix",
        ),
        (
            {"allowedClients": [{"podSelector": {"matchLabels": {"app": "-api"}}}]},
            "spec.network.allowedClients.0.podSelector.matchLabels.app: String should match pattern",
        ),
        (
            {"monitoring": [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In"}]}}]},
            "spec.network.monitoring.0.namespaceSelector.matchExpressions.0: operators In and NotIn need at least one",
        ),
        (
            {
                "monitoring": [
                    {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}}
                ]
            },
            "spec.network.monitoring.0.podSelector.matchExpressions.0: operators Exists and DoesNotExist take no",
        ),
        (
            {"allowedClients": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "Like"}]}}]},
            "spec.network.allowedClients.0.podSelector.matchExpressions.0.operator: Input should be 'In'",
        ),
        ({"allowedClients": [{}]}, "spec.network.allowedClients.0: give podSelector, namespaceSelector or both"),
        ({"allowedClients": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}, "spec.network.allowedClients.0.ipBlock: Extra"),
    ],
)
def test_a_bad_selector_is_refused_naming_the_field(network: dict[str, Any], message: str) -> None:
    assert any(error.startswith(message) for error in errors_for(network)), errors_for(network)

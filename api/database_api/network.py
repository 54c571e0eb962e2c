"""Who may connect to a Database: `spec.network`, label selectors in the shape of a NetworkPolicy's peers."""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from database_api.profiles import Camel

# Kubernetes label rules: a value is empty or a name; a key is a name with an optional DNS-subdomain prefix.
_NAME_PART = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_PATTERN = rf"^({_NAME_PART})?$"
_LABEL_NAME = re.compile(rf"^{_NAME_PART}$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_NAME = 63
_MAX_PREFIX = 253
_MAX_PEERS = 16
_MAX_LABELS = 32
_MAX_VALUES = 64
_PEER_NEEDS_SELECTOR = "give podSelector, namespaceSelector or both"

LabelValue = Annotated[str, Field(max_length=_MAX_NAME, pattern=LABEL_VALUE_PATTERN)]


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid Kubernetes label key, or None when it is."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > _MAX_PREFIX or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r}: its prefix must be a DNS subdomain of at most {_MAX_PREFIX} characters"
    if len(name) > _MAX_NAME or not _LABEL_NAME.match(name):
        return (
            f"label key {key!r}: its name must be at most {_MAX_NAME} letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _check_key(key: str) -> str:
    problem = label_key_problem(key)
    if problem:
        raise ValueError(problem)
    return key


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(Camel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
                    "message": "operators In and NotIn need at least one value",
                },
                {
                    "rule": "self.operator in ['In', 'NotIn'] || !has(self.values) || size(self.values) == 0",
                    "message": "operators Exists and DoesNotExist take no values",
                },
            ]
        }
    )

    key: str = Field(min_length=1, max_length=_MAX_PREFIX + 1 + _MAX_NAME, description="A label key.")
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelValue] | None = Field(
        default=None,
        max_length=_MAX_VALUES,
        description="Label values: required (non-empty) for In and NotIn, absent for Exists and DoesNotExist.",
    )

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _check_key(value)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        needs_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if needs_values and not self.values:
            raise ValueError("operators In and NotIn need at least one value")
        if not needs_values and self.values:
            raise ValueError("operators Exists and DoesNotExist take no values")
        return self


class LabelSelector(Camel):
    """A Kubernetes label selector; an empty one selects everything."""

    match_labels: dict[str, LabelValue] | None = Field(
        default=None, json_schema_extra={"maxProperties": _MAX_LABELS}, description="Labels that must all match."
    )
    match_expressions: list[SelectorRequirement] | None = Field(
        default=None, max_length=_MAX_LABELS, description="Requirements that must all hold."
    )

    @field_validator("match_labels")
    @classmethod
    def _keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            if len(value) > _MAX_LABELS:
                raise ValueError(f"at most {_MAX_LABELS} labels (got {len(value)})")
            for key in value:
                _check_key(key)
        return value


class NetworkPeer(Camel):
    """Pods allowed to connect, as a NetworkPolicy peer."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "has(self.podSelector) || has(self.namespaceSelector)", "message": _PEER_NEEDS_SELECTOR}
            ]
        }
    )

    pod_selector: LabelSelector | None = Field(
        default=None,
        description="Which pods: alone, pods of the Database's namespace; with namespaceSelector, pods of those "
        "namespaces.",
    )
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Which namespaces: alone, every pod of the selected namespaces."
    )

    @model_validator(mode="after")
    def _selects_something(self) -> Self:
        if self.pod_selector is None and self.namespace_selector is None:
            raise ValueError(_PEER_NEEDS_SELECTOR)
        return self


SAME_NAMESPACE = (NetworkPeer(pod_selector=LabelSelector()),)
"""Default clients: every pod of the Database's own namespace."""

MONITORING_NAMESPACE = "monitoring"
DEFAULT_MONITORING = (
    NetworkPeer(namespace_selector=LabelSelector(match_labels={"kubernetes.io/metadata.name": MONITORING_NAMESPACE})),
)
"""Default scrapers of the exporter port: pods of the namespace `monitoring` (where Prometheus usually runs;
the API server labels every namespace with its name)."""


class NetworkSpec(Camel):
    allowed_clients: list[NetworkPeer] | None = Field(
        default=None,
        max_length=_MAX_PEERS,
        description="Pods that may connect to the database port, besides the Database's own replicas and backup "
        "Jobs. Default: every pod of the Database's namespace. An empty list allows no other pod.",
    )
    monitoring: list[NetworkPeer] | None = Field(
        default=None,
        max_length=_MAX_PEERS,
        description="Pods that may scrape the exporter port (when monitoring.metrics is on), besides the operator "
        f"(it reads the replicas' lag there). Default: every pod of the namespace {MONITORING_NAMESPACE}.",
    )

    @property
    def clients(self) -> tuple[NetworkPeer, ...]:
        return SAME_NAMESPACE if self.allowed_clients is None else tuple(self.allowed_clients)

    @property
    def scrapers(self) -> tuple[NetworkPeer, ...]:
        return DEFAULT_MONITORING if self.monitoring is None else tuple(self.monitoring)


OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "database-operator"}
"""The labels of the operator's own pods (deploy/deployment.yaml's pod template)."""


@dataclass(frozen=True)
class OperatorPeers:
    """Where the operator reads the exporters' metrics from (status.instances[].lagSeconds), so every Database's
    NetworkPolicy admits it to the exporter port: its own pods in `namespace` when it runs in the cluster, and
    the source addresses `cidrs` when it runs outside (the operator settings POD_NAMESPACE, DBOP_OPERATOR_CIDRS).
    Never the database port: the operator does not connect to it."""

    namespace: str | None = None
    cidrs: tuple[str, ...] = ()

    def to_config(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "cidrs": list(self.cidrs)}

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> "OperatorPeers":
        if not config:
            return cls()
        return cls(namespace=config.get("namespace"), cidrs=tuple(config.get("cidrs", ())))

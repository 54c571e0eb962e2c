"""Review of a proposed Database YAML: parsed strictly, checked like admission, previewed without changes."""

import asyncio

import pytest

from database_api.spec import SpecError
from database_operator.review import ProposalError, ProposedDatabase, proposed_databases, review
from database_operator.runtime import Runtime
from tests.operator.conftest import FakeKube, FakeStacks

ORDERS = """
apiVersion: database.example.com/v1
kind: Database
metadata: {name: orders, namespace: shop}
spec: {type: mysql, version: "8.0", storage: {size: 10Gi}}
"""


def test_every_database_of_a_multi_document_file_is_proposed() -> None:
    text = ORDERS + "---\n" + ORDERS.replace("orders, namespace: shop", "carts")
    assert [(p.namespace, p.name) for p in proposed_databases(text, "team")] == [("shop", "orders"), ("team", "carts")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no Database in the input"),
        ("kind: [", "not valid YAML"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}", "document 1: kind/apiVersion must be Database"),
        (ORDERS.replace("name: orders, ", ""), "document 1: metadata.name is required"),
        (ORDERS.split("spec:", maxsplit=1)[0], "Database orders: spec is required"),
    ],
)
def test_what_is_not_a_database_is_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(ProposalError, match=message):
        proposed_databases(text, "default")


def proposal(**spec: object) -> ProposedDatabase:
    return ProposedDatabase("shop", "orders", {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}, **spec})


def test_a_proposal_is_previewed_with_the_defaults_admission_would_store(runtime: Runtime, stacks: FakeStacks) -> None:
    plan = asyncio.run(review(runtime, proposal(replicas=3)))
    [(kind, request, _)] = stacks.calls
    assert kind == "preview_proposed"  # never preview or up: nothing may change
    assert request.spec["replicas"] == 3 and request.spec["deletionPolicy"] == "Delete"
    assert not plan.changed


def test_a_proposal_admission_would_refuse_is_an_error_naming_the_field(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube
) -> None:
    with pytest.raises(SpecError, match=r"spec\.replicas: production requires at least 2 replicas \(got 1\)"):
        asyncio.run(review(runtime, proposal(environment="production", replicas=1)))
    kube.databases[("shop", "orders")] = {"spec": proposal(storage={"size": "20Gi"}).spec}
    with pytest.raises(SpecError, match=r"spec\.storage\.size: storage cannot shrink \(from 20Gi to 10Gi\)"):
        asyncio.run(review(runtime, proposal()))
    assert stacks.calls == []

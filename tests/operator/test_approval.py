"""The approval gate: under RequireApproval a change is planned, waits, and applies only with its plan's id."""

import asyncio
import dataclasses

import pytest

from database_operator.apply import apply_database
from database_operator.gate import APPROVAL_ANNOTATION, Decision, GateOutcome, approval_required, decide
from database_operator.plan import ResourceStep
from database_operator.runtime import Runtime
from database_operator.stacks import OperationResult
from tests.operator.conftest import Events, FakeKube, FakeStacks, MakeDatabase, result

GATED = {"updatePolicy": "RequireApproval"}
APPLIED = {"id": "2-abc", "state": "Applied"}
WAITING = {"id": "2-abc", "state": "AwaitingApproval"}


@pytest.mark.parametrize(
    ("required", "plan", "approval", "outcome"),
    [
        (False, None, None, GateOutcome(Decision.APPLY)),
        (True, None, None, GateOutcome(Decision.PLAN)),  # a new change: plan it
        (True, {"id": "1-old", "state": "Applied"}, None, GateOutcome(Decision.PLAN)),
        (True, WAITING, None, GateOutcome(Decision.WAIT)),  # planned, not approved yet
        (True, WAITING, "2-abc", GateOutcome(Decision.APPLY)),  # approved
        (True, APPLIED, "2-abc", GateOutcome(Decision.APPLY)),  # approved and applied: a resume re-applies it
        (True, APPLIED, None, GateOutcome(Decision.APPLY)),
        (True, WAITING, "1-old", GateOutcome(Decision.WAIT, refused_approval="1-old")),  # stale approval
        (True, {"id": "1-old", "state": "AwaitingApproval"}, "1-old", GateOutcome(Decision.PLAN, "1-old")),
    ],
)
def test_gate_decisions(
    required: bool, plan: dict[str, str] | None, approval: str | None, outcome: GateOutcome
) -> None:
    assert decide(required, "2-abc", plan, approval) == outcome


def test_the_gate_stays_until_leaving_it_is_approved() -> None:
    assert approval_required("RequireApproval", None)
    assert not approval_required("Automatic", None)
    assert approval_required("Automatic", APPLIED)  # switching the gate off is itself a gated change


SCALE = [
    ResourceStep(
        "refresh",
        "urn:pulumi:shop.orders::database::kubernetes:apps/v1:StatefulSet::orders",
        "kubernetes:apps/v1:StatefulSet",
    ),
    ResourceStep(
        "update",
        "urn:pulumi:shop.orders::database::kubernetes:apps/v1:StatefulSet::orders",
        "kubernetes:apps/v1:StatefulSet",
        ("spec.replicas",),
    ),
]


def preview_of(*steps: ResourceStep) -> OperationResult:
    return dataclasses.replace(result("preview", update=1, same=5), steps=steps)


def test_a_gated_change_is_planned_and_waits(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    stacks.preview_results.append(preview_of(*SCALE))
    asyncio.run(apply_database(runtime, database(generation=2, replicas=3, **GATED), retry=0))

    assert stacks.kinds() == ["preview_proposed"]  # nothing applied
    plan = kube.status()["plan"]
    assert plan["state"] == "AwaitingApproval" and plan["id"].startswith("2-") and plan["generation"] == 2
    assert plan["changes"] == [{"resource": "StatefulSet/orders", "action": "update", "fields": ["spec.replicas"]}]
    assert (plan["updated"], plan["dataLoss"]) == (1, False)
    assert kube.status()["phase"] == "AwaitingApproval"
    assert kube.condition("Reconciled")["reason"] == "AwaitingApproval"
    assert kube.condition("Ready")["reason"] == "AwaitingApproval"
    [(kind, reason, message)] = events.posted
    assert (kind, reason) == ("Normal", "PlanReady")
    assert f"plan {plan['id']}: 1 to update [update StatefulSet/orders (spec.replicas)]" in message
    assert f"kubectl -n shop annotate database orders {APPROVAL_ANNOTATION}={plan['id']}" in message

    # The same spec again (a resume, a retry): the plan stands, nothing runs.
    asyncio.run(apply_database(runtime, database(generation=2, replicas=3, **GATED), retry=0))
    assert stacks.kinds() == ["preview_proposed"]


def test_the_approval_applies_the_plan(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    asyncio.run(apply_database(runtime, database(generation=2, replicas=3, **GATED), retry=0))
    plan_id = kube.status()["plan"]["id"]

    approved = database(generation=2, replicas=3, annotations={APPROVAL_ANNOTATION: plan_id}, **GATED)
    asyncio.run(apply_database(runtime, approved, retry=0, approval_changed=True))

    assert stacks.kinds() == ["preview_proposed", "up"]
    assert stacks.calls[-1][1].spec["replicas"] == 3
    assert kube.status()["plan"]["state"] == "Applied"
    assert kube.condition("Reconciled")["status"] == "True"
    assert kube.status()["phase"] != "AwaitingApproval"
    assert events.reasons() == ["PlanReady", "Applied"]


def test_an_approval_of_a_plan_whose_spec_changed_is_refused(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    asyncio.run(apply_database(runtime, database(generation=2, replicas=2, **GATED), retry=0))
    first = kube.status()["plan"]["id"]
    asyncio.run(apply_database(runtime, database(generation=3, replicas=3, **GATED), retry=0))
    second = kube.status()["plan"]["id"]
    assert second != first

    stale = database(generation=3, replicas=3, annotations={APPROVAL_ANNOTATION: first}, **GATED)
    asyncio.run(apply_database(runtime, stale, retry=0, approval_changed=True))

    assert "up" not in stacks.kinds()
    assert events.posted[-1][:2] == ("Warning", "ApprovalRefused")
    assert f"approval of plan {first} refused: the current plan is {second}" in events.posted[-1][2]
    assert kube.status()["plan"]["state"] == "AwaitingApproval"

    current = database(generation=3, replicas=3, annotations={APPROVAL_ANNOTATION: second}, **GATED)
    asyncio.run(apply_database(runtime, current, retry=0, approval_changed=True))
    assert stacks.kinds()[-1] == "up" and stacks.calls[-1][1].spec["replicas"] == 3


def test_a_plan_that_may_lose_data_is_announced_as_a_warning(
    runtime: Runtime, stacks: FakeStacks, events: Events, database: MakeDatabase
) -> None:
    urn = "urn:pulumi:shop.orders::database::kubernetes:apps/v1:StatefulSet::orders"
    stacks.preview_results.append(preview_of(ResourceStep("replace", urn, "kubernetes:apps/v1:StatefulSet")))
    asyncio.run(apply_database(runtime, database(generation=2, **GATED), retry=0))
    [(kind, reason, message)] = events.posted
    assert (kind, reason) == ("Warning", "PlanReady")
    assert message.startswith("DATA LOSS possible: plan 2-")


def test_leaving_the_gate_needs_approval_then_changes_apply_at_once(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    asyncio.run(apply_database(runtime, database(generation=1, **GATED), retry=0))
    approve = {APPROVAL_ANNOTATION: kube.status()["plan"]["id"]}
    asyncio.run(apply_database(runtime, database(generation=1, annotations=approve, **GATED), retry=0))
    assert stacks.kinds() == ["preview_proposed", "up"]

    automatic = {"updatePolicy": "Automatic"}
    asyncio.run(apply_database(runtime, database(generation=2, annotations=approve, **automatic), retry=0))
    assert stacks.kinds() == ["preview_proposed", "up", "preview_proposed"]  # turning the gate off is itself reviewed
    approve = {APPROVAL_ANNOTATION: kube.status()["plan"]["id"]}
    asyncio.run(apply_database(runtime, database(generation=2, annotations=approve, **automatic), retry=0))
    assert stacks.kinds()[-1] == "up"
    assert kube.status()["plan"] is None  # removed from the status

    asyncio.run(apply_database(runtime, database(generation=3, replicas=2, **automatic), retry=0))
    assert stacks.kinds()[-1] == "up"  # no plan, no wait


def test_production_requires_approval_by_default(runtime: Runtime, stacks: FakeStacks, database: MakeDatabase) -> None:
    production = {"environment": "production", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    asyncio.run(apply_database(runtime, database(generation=1, **production), retry=0))
    assert stacks.kinds() == ["preview_proposed"]
    assert stacks.calls[0][1].spec["updatePolicy"] == "RequireApproval"

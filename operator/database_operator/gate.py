"""The approval gate: under `updatePolicy: RequireApproval` a spec change is applied only through an approved plan.

A pure state machine. Each spec change gets a plan id (`plan.plan_id`); the operator previews the change and
writes the plan to status; an approval is the annotation `database.example.com/approved-plan=<plan id>`.
The id is computed from the spec the operator is about to apply, so an approval of a plan whose spec has
changed since can never match it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from database_api.profiles import UpdatePolicy
from database_api.status import PlanState

APPROVAL_ANNOTATION = "database.example.com/approved-plan"


class Decision(StrEnum):
    APPLY = "apply"
    """Run `pulumi up` now."""
    PLAN = "plan"
    """Preview the change, write the plan to status and wait for its approval."""
    WAIT = "wait"
    """The current plan is in status and not approved yet: do nothing."""


@dataclass(frozen=True)
class GateOutcome:
    decision: Decision
    refused_approval: str | None = None
    """An approval annotation that names another plan than the current one (stale or mistyped)."""


def approval_required(policy: str | None, plan: Mapping[str, Any] | None) -> bool:
    """Whether a change must pass the gate: the new spec asks for it, or the Database is under the gate now
    (status holds a plan), so that turning the gate off is itself a change that needs approval."""
    return policy == UpdatePolicy.REQUIRE_APPROVAL.value or plan is not None


def decide(required: bool, plan_id: str, plan: Mapping[str, Any] | None, approval: str | None) -> GateOutcome:
    """What to do about the Database's spec, given the plan in status and the approval annotation."""
    if not required:
        return GateOutcome(Decision.APPLY)
    current = plan is not None and plan.get("id") == plan_id
    refused = approval if approval and approval != plan_id else None
    if current and plan is not None and plan.get("state") == PlanState.APPLIED.value:
        return GateOutcome(Decision.APPLY)  # approved and applied before: re-applying it is safe (resume)
    if current and approval == plan_id:
        return GateOutcome(Decision.APPLY)
    return GateOutcome(Decision.WAIT if current else Decision.PLAN, refused_approval=refused)

"""Drift: find out-of-band changes to a Database's objects with `preview --refresh`; correct or report them.

A check compares the live objects with the configuration last *applied* (the stack's workspace holds it), not
with the Database's spec as it is now: a spec change that is not applied yet (waiting for approval, or for its
own reconcile) is never applied by a drift correction, and a correction never reverts a newer applied spec
(the check and its correction are one operation under the stack's lock).
"""

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from database_api.spec import DriftPolicy, SpecError
from database_operator import events
from database_operator.apply import stack_input
from database_operator.plan import plan_id
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.stack_errors import StackError
from database_operator.stack_names import stack_name
from database_operator.stacks import StackInput
from database_operator.status import DRIFTED, change_counts, condition_is, operation_summary, set_condition

logger = logging.getLogger(__name__)


def corrects_drift(applied_spec: Mapping[str, Any]) -> bool:
    """The applied spec's policy decides, like everything else it configures."""
    return applied_spec.get("driftPolicy") != DriftPolicy.REPORT.value


def _lost_workspace_input(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> StackInput | None:
    """The configuration to check against if the workspace lost its own: the current spec, only if it is the
    very configuration last applied (status.appliedConfiguration names it)."""
    try:
        request = stack_input(rt, tracker.namespace, tracker.name, body.spec, tracker.status.get("restoredFrom"))
    except SpecError:
        return None
    applied = plan_id(body.metadata.get("generation"), request.configuration)
    return request if applied == tracker.status.get("appliedConfiguration") else None


async def check_drift(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    """One drift check. An in-sync Database costs one preview and no `up`."""
    generation = body.metadata.get("generation")
    fallback = _lost_workspace_input(rt, tracker, body)
    stack = stack_name(tracker.namespace, tracker.name)
    try:
        check = await rt.run_operation(
            tracker, lambda: rt.stacks.check_drift(stack, fallback, corrects_drift), background=True
        )
    except StackError as error:
        logger.warning("drift check of %s/%s failed: %s", tracker.namespace, tracker.name, error)
        conditions = set_condition(
            tracker.status.get("conditions", []), DRIFTED, None, "DriftCheckFailed", str(error), generation
        )
        await rt.write_status(tracker, {"conditions": conditions})
        events.warning(body, "DriftCheckFailed", str(error))
        return
    conditions = tracker.status.get("conditions", [])
    if not check.found.changed:
        if condition_is(conditions, DRIFTED, "True") or condition_is(conditions, DRIFTED, "Unknown"):
            conditions = set_condition(conditions, DRIFTED, False, "InSync", "live objects match the spec", generation)
            await rt.write_status(tracker, {"conditions": conditions})
        return
    found = change_counts(check.found.changes)
    if check.corrected is None:
        conditions = set_condition(conditions, DRIFTED, True, "DriftDetected", f"out of sync: {found}", generation)
        await rt.write_status(tracker, {"conditions": conditions})
        events.warning(body, "DriftDetected", f"live objects differ from the spec ({found}); driftPolicy is Report")
        return
    conditions = set_condition(conditions, DRIFTED, False, "DriftCorrected", f"corrected: {found}", generation)
    await rt.write_status(tracker, {"conditions": conditions, "lastOperation": operation_summary(check.corrected)})
    events.warning(body, "DriftCorrected", f"out-of-band changes reverted ({change_counts(check.corrected.changes)})")

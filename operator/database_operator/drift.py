"""Drift: find out-of-band changes to a Database's objects with `preview --refresh`; correct or report them."""

import logging

import kopf
from kubernetes_asyncio.client.exceptions import ApiException

from database_api.spec import DriftPolicy, SpecError
from database_operator import events
from database_operator.apply import stack_input, with_live_passwords
from database_operator.guard import ProtectionRefused
from database_operator.passwords import CredentialsMissing
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.stack_errors import StackError
from database_operator.status import DRIFTED, RECONCILED, change_counts, condition_is, operation_summary, set_condition

logger = logging.getLogger(__name__)


async def check_drift(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    """One drift check. An in-sync Database costs one preview and no `up`."""
    generation = body.metadata.get("generation")
    try:
        restored_from = tracker.status.get("restoredFrom")
        request = stack_input(rt, tracker.namespace, tracker.name, body.spec, restored_from, body.metadata.uid)
        # A correction may re-create the stack's state (lost state directory): it adopts the live passwords.
        request = await with_live_passwords(rt, request)
        preview = await rt.run_operation(tracker, lambda: rt.stacks.preview(request, refresh=True), background=True)
        conditions = tracker.status.get("conditions", [])
        if not preview.changed:
            if condition_is(conditions, DRIFTED, "True"):
                conditions = set_condition(
                    conditions, DRIFTED, False, "InSync", "live objects match the spec", generation
                )
                await rt.write_status(tracker, {"conditions": conditions})
            return
        found = change_counts(preview.changes)
        if body.spec.get("driftPolicy") == DriftPolicy.REPORT.value:
            conditions = set_condition(conditions, DRIFTED, True, "DriftDetected", f"out of sync: {found}", generation)
            await rt.write_status(tracker, {"conditions": conditions})
            events.warning(body, "DriftDetected", f"live objects differ from the spec ({found}); driftPolicy is Report")
            return
        result = await rt.run_operation(tracker, lambda: rt.stacks.up(request, refresh=True), background=True)
    except (StackError, SpecError, ApiException) as error:
        logger.warning("drift check of %s/%s failed: %s", tracker.namespace, tracker.name, error)
        events.warning(body, "DriftCheckFailed", str(error))
        if isinstance(error, (CredentialsMissing, ProtectionRefused)):  # a refusal to keep data: say so in status
            conditions = set_condition(
                tracker.status.get("conditions", []), RECONCILED, False, error.reason, str(error), generation
            )
            await rt.write_status(tracker, {"conditions": conditions})
        return
    conditions = set_condition(
        tracker.status.get("conditions", []), DRIFTED, False, "DriftCorrected", f"corrected: {found}", generation
    )
    await rt.write_status(tracker, {"conditions": conditions, "lastOperation": operation_summary(result)})
    events.warning(body, "DriftCorrected", f"out-of-band changes reverted ({change_counts(result.changes)})")

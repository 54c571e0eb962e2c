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
from kubernetes_asyncio.client.exceptions import ApiException

from database_api.names import CONFIG_NAMESPACE
from database_api.spec import DriftPolicy, SpecError
from database_operator import events
from database_operator.apply import stack_input, with_live_passwords
from database_operator.guard import ProtectionRefused
from database_operator.passwords import CredentialsMissing
from database_operator.plan import plan_id
from database_operator.pod_files import legacy_pod_files
from database_operator.precheck import forget_record, record_owned_objects
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.settings_file import configured_value
from database_operator.stack_errors import StackError
from database_operator.stack_names import stack_name
from database_operator.stacks import StackInput
from database_operator.status import (
    DRIFTED,
    RECONCILED,
    change_counts,
    condition_is,
    operation_summary,
    readiness,
    readiness_status,
    set_condition,
)

logger = logging.getLogger(__name__)


def corrects_drift(applied_spec: Mapping[str, Any]) -> bool:
    """The applied spec's policy decides, like everything else it configures."""
    return applied_spec.get("driftPolicy") != DriftPolicy.REPORT.value


async def _lost_workspace_input(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> StackInput | None:
    """The configuration to check against if the workspace lost its own (None while it has it): the current
    spec, only if it is the very configuration last applied (status.appliedConfiguration names it), with the
    live Secrets' passwords: the re-created configuration adopts them, never new ones."""
    stack = stack_name(tracker.namespace, tracker.name)
    if configured_value(rt.stacks.stack_settings_file(stack), f"{CONFIG_NAMESPACE}:spec"):
        return None
    try:
        restored_from = tracker.status.get("restoredFrom")
        request = stack_input(rt, tracker.namespace, tracker.name, body.spec, restored_from, body.metadata.uid)
    except SpecError:
        return None
    applied = plan_id(body.metadata.get("generation"), request.configuration)
    return await with_live_passwords(rt, request) if applied == tracker.status.get("appliedConfiguration") else None


async def check_drift(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body) -> None:
    """One drift check. An in-sync Database costs one preview and no `up`."""
    generation = body.metadata.get("generation")
    stack = stack_name(tracker.namespace, tracker.name)
    try:
        fallback = await _lost_workspace_input(rt, tracker, body)
        forget = legacy_pod_files(tracker.name, tracker.statefulset)
        check = await rt.run_operation(
            tracker,
            lambda: rt.stacks.check_drift(stack, fallback, corrects_drift, forget),
            background=True,
        )
    except (StackError, ApiException) as error:
        logger.warning("drift check of %s/%s failed: %s", tracker.namespace, tracker.name, error)
        forget_record(rt, tracker)
        conditions = set_condition(
            tracker.status.get("conditions", []), DRIFTED, None, "DriftCheckFailed", str(error), generation
        )
        changes: dict[str, Any] = {"conditions": conditions}
        if isinstance(error, (CredentialsMissing, ProtectionRefused)):  # a refusal to keep data: the Database fails
            conditions = set_condition(conditions, RECONCILED, False, error.reason, str(error), generation)
            changes = readiness_status(conditions, readiness(tracker.statefulset), generation)
        await rt.write_status(tracker, changes)
        events.warning(body, "DriftCheckFailed", str(error))
        return
    conditions = tracker.status.get("conditions", [])
    if check.found.changed and check.corrected is None:
        forget_record(rt, tracker)  # drift is reported, not corrected: checked again every interval
    else:
        await record_owned_objects(rt, tracker, drift_checked=True)
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

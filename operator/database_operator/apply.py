"""Create and update: validate the spec, pass the approval gate, run `pulumi up` for the Database's stack (or
preview it into a plan that waits for approval), report the result."""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any, NoReturn

import kopf

from database_api.names import BACKUP_DIRECTORY, CONFIG_NAMESPACE, PASSWORD_KEYS
from database_api.profiles import UpdatePolicy
from database_api.spec import DatabaseSpec, SpecError, checked_spec, parse_spec, update_violations
from database_api.status import PlanState
from database_operator import events
from database_operator.backups import BackupNotReady, dump_to_load, resolve_restore
from database_operator.gate import APPROVAL_ANNOTATION, Decision, approval_required, decide
from database_operator.ownership import foreign_objects
from database_operator.passwords import SECRET_OF_PASSWORD, config_key
from database_operator.plan import build_plan, plan_id, plan_status
from database_operator.pod_files import legacy_pod_files
from database_operator.precheck import record_owned_objects
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.server_tls import RENEW_ANNOTATION, SECRET_OF_TLS, TLS_KEYS
from database_operator.settings import OperatorSettings
from database_operator.settings_file import configured_keys, configured_value
from database_operator.stack_errors import StackError, StackOperationFailed
from database_operator.stack_names import stack_name
from database_operator.stacks import OperationResult, StackInput
from database_operator.status import (
    RECONCILED,
    Reconcile,
    change_counts,
    failed_operation_summary,
    now,
    operation_summary,
    outputs_status,
    readiness,
    readiness_status,
    reconciled,
    set_condition,
)
from database_operator.storage import StorageRefused, StorageWaiting, data_volumes, grow_storage, growth_notes

FOREIGN_OBJECT_RETRY_SECONDS = 60
STORAGE_RETRY_SECONDS = 60


def backoff_seconds(settings: OperatorSettings, retry: int) -> float:
    """Bounded exponential backoff for transient failures: base, 2x base, 4x base, ... up to the maximum."""
    return float(min(settings.retry_max_seconds, settings.retry_base_seconds * 2**retry))


def stack_input(
    rt: Runtime,
    namespace: str,
    name: str,
    raw_spec: Mapping[str, Any],
    restored_from: Mapping[str, Any] | None = None,
    uid: str | None = None,
) -> StackInput:
    """The stack configuration for a Database; raise SpecError (naming each field) if its spec is invalid, or if
    it changes the deployed spec in a way the update rules refuse (the same rules as the CRD and admission, for
    a spec stored while neither could check it). `restored_from`: the backup it is initialised from
    (status.restoredFrom, see backups.resolve_restore). `uid`: the Database's, for ownerReferences."""
    spec = checked_spec(dict(raw_spec), rt.stacks_config)
    deployed = deployed_spec(rt, stack_name(namespace, name))
    errors = update_violations(deployed, spec) if deployed is not None else []
    if errors:
        raise SpecError(errors)
    restore = None
    if restored_from:
        file = PurePosixPath(restored_from["artifact"]).relative_to(BACKUP_DIRECTORY)
        restore = {"claim": restored_from["volume"], "file": str(file)}
    return StackInput(
        namespace=namespace,
        name=name,
        spec=spec.model_dump(by_alias=True, exclude_none=True, mode="json"),
        engine_profile=rt.stacks_config.engine(spec.type).model_dump(by_alias=True, mode="json"),
        environment_profile=rt.stacks_config.environment(spec.environment).model_dump(by_alias=True, mode="json"),
        service_monitor_available=rt.service_monitor_available,
        restore=restore,
        uid=uid,
        operator_peers=rt.settings.operator_peers,
    )


def deployed_spec(rt: Runtime, stack: str) -> DatabaseSpec | None:
    """The spec the stack was last configured with, if its settings file has one that still parses."""
    raw = configured_value(rt.stacks.stack_settings_file(stack), f"{CONFIG_NAMESPACE}:spec")
    try:
        return parse_spec(json.loads(raw)) if isinstance(raw, str) else None
    except (SpecError, ValueError):
        return None


async def with_live_passwords(
    rt: Runtime, request: StackInput, claims: Sequence[Mapping[str, Any]] | None = None
) -> StackInput:
    """The request with the passwords of the Database's live Secrets and the names of its data volumes: a stack
    without passwords of its own adopts the live ones, and refuses to make new ones for existing data. Every path
    that can create or refresh a stack (apply, resume, drift, review) goes through here. A failed read is an
    error (raised), never "no passwords". While the stack's settings hold every password nothing is read (they
    are kept as they are): `live_passwords` None says so. `claims`: the data volume claims, if the caller has
    listed them already."""
    kept = {**SECRET_OF_PASSWORD, **SECRET_OF_TLS}
    if {config_key(key) for key in (*PASSWORD_KEYS, *TLS_KEYS)} <= configured_keys(
        rt.stacks.stack_settings_file(request.stack)
    ):
        return replace(request, live_passwords=None)
    names = sorted({secret_name(request.name) for secret_name, _ in kept.values()})
    read = await asyncio.gather(*(rt.kube.read_secret(request.namespace, name) for name in names))
    secrets = dict(zip(names, read, strict=True))
    volumes = claims if claims is not None else await data_volumes(rt.kube, request.namespace, request.name)
    passwords = {
        key: value
        for key, (secret_name, secret_key) in kept.items()
        if (value := (secrets[secret_name(request.name)] or {}).get(secret_key))
    }
    return replace(
        request,
        live_passwords=passwords,
        data_volumes=tuple(sorted(volume["metadata"]["name"] for volume in volumes)),
    )


def succeeded_status(tracker: DatabaseTracker, result: OperationResult, generation: int | None) -> dict[str, Any]:
    """Status after a successful `up`: outputs, the operation, and phase from the live StatefulSet."""
    conditions = set_condition(
        tracker.status.get("conditions", []),
        RECONCILED,
        True,
        Reconcile.APPLIED,
        f"pulumi up: {change_counts(result.changes)}",
        generation,
    )
    return {
        "stack": stack_name(tracker.namespace, tracker.name),
        "outputs": outputs_status(result.outputs),
        "selector": result.outputs.get("selector"),
        "lastOperation": operation_summary(result),
        "observedGeneration": generation,
        **readiness_status(conditions, readiness(tracker.statefulset), generation),
    }


async def record_failure(
    rt: Runtime, tracker: DatabaseTracker, reason: str, message: str, generation: int | None, summary: dict[str, Any]
) -> None:
    conditions = set_condition(tracker.status.get("conditions", []), RECONCILED, False, reason, message, generation)
    changes: dict[str, Any] = {"lastOperation": summary, "observedGeneration": generation}
    changes.update(readiness_status(conditions, readiness(tracker.statefulset), generation))
    await rt.write_status(tracker, changes)


async def report_failure(
    rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, retry: int, kind: str, error: Exception, seconds: float
) -> NoReturn:
    """Record a failed step in status and an Event, and raise kopf's Temporary/PermanentError to drive retries.
    Transient is the default: retried with backoff for ever, visibly counted against DBOP_RETRY_BUDGET (beyond
    it the Database shows Failed, and is still retried); permanent only for errors only a spec change can fix."""
    failure = error if isinstance(error, StackError) else StackOperationFailed(f"{kind}: {error}", transient=True)
    generation = body.metadata.get("generation")
    summary = failed_operation_summary(kind, str(failure), seconds)
    if not failure.transient:
        reason = Reconcile(failure.reason)
        await record_failure(rt, tracker, reason, str(failure), generation, summary)
        events.warning(body, reason, str(failure))
        raise kopf.PermanentError(str(failure)) from error
    delay = backoff_seconds(rt.settings, retry)
    attempt, budget = retry + 1, rt.settings.retry_budget
    if attempt < budget:
        reason, event = Reconcile.RETRYING, "RetryingOperation"
        message = f"{failure} (attempt {attempt} of {budget}; retrying in {delay:.0f}s)"
    else:
        reason, event = Reconcile.RETRIES_EXHAUSTED, "OperationFailed"
        message = f"{failure} (failed {attempt} times; still retrying, every {delay:.0f}s)"
    await record_failure(rt, tracker, reason, message, generation, summary)
    events.warning(body, event, message)
    raise kopf.TemporaryError(str(failure), delay=delay) from error


async def run_stack_operation(
    rt: Runtime,
    tracker: DatabaseTracker,
    body: kopf.Body,
    retry: int,
    kind: str,
    operation: Callable[[], OperationResult],
) -> OperationResult:
    """Run one stack operation; on failure report it (report_failure)."""
    started = time.monotonic()
    try:
        return await rt.run_operation(tracker, operation)
    except Exception as error:
        await report_failure(rt, tracker, body, retry, kind, error, time.monotonic() - started)


async def refuse_foreign_objects(rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, request: StackInput) -> None:
    """Stop before `up` when an object of a declared name exists and is not the Database's (ownership.py): it
    would be taken over, and destroyed with the Database. Checked again later: its owner may remove it."""
    foreign = await foreign_objects(request, request.uid, rt.kube.read_metadata)
    if not foreign:
        return
    message = "; ".join(foreign)
    generation = body.metadata.get("generation")
    reason = Reconcile.FOREIGN_OBJECT
    await record_failure(rt, tracker, reason, message, generation, failed_operation_summary("up", message, 0))
    events.warning(body, reason, message)
    raise kopf.TemporaryError(message, delay=FOREIGN_OBJECT_RETRY_SECONDS)


async def grow_volumes(
    rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, request: StackInput, claims: Sequence[Mapping[str, Any]]
) -> bool:
    """Grow the volumes (`claims`: the data volume claims) in place before `up` (storage.py); returns whether `up`
    must refresh. A class that cannot expand is reported, and checked again later (its allowVolumeExpansion can be
    turned on)."""
    generation = body.metadata.get("generation")
    try:
        return await grow_storage(rt.kube, request.namespace, request.name, request.spec, claims)
    except (StorageRefused, StorageWaiting) as error:
        reason = Reconcile.STORAGE_REFUSED if isinstance(error, StorageRefused) else Reconcile.STORAGE_WAITING
        delay = STORAGE_RETRY_SECONDS if isinstance(error, StorageRefused) else backoff_seconds(rt.settings, 0)
        await record_failure(rt, tracker, reason, str(error), generation, failed_operation_summary("up", str(error), 0))
        events.warning(body, reason, str(error))
        raise kopf.TemporaryError(str(error), delay=delay) from error


async def propose_plan(
    rt: Runtime, tracker: DatabaseTracker, body: kopf.Body, request: StackInput, id_: str, retry: int
) -> None:
    """Preview the change against the live objects, write the plan to status, announce it, and wait."""
    generation = body.metadata.get("generation")
    # Previewed in a scratch copy of the workspace: the operator's own keeps the configuration last applied.
    result = await run_stack_operation(rt, tracker, body, retry, "preview", lambda: rt.stacks.preview_proposed(request))
    deployed = deployed_spec(rt, request.stack)
    before = deployed.model_dump(by_alias=True, exclude_none=True, mode="json") if deployed else {}
    plan = replace(build_plan(result.steps, request.deletes_volumes), notes=growth_notes(before, request.spec))
    approve = f"kubectl -n {tracker.namespace} annotate database {tracker.name} {APPROVAL_ANNOTATION}={id_} --overwrite"
    conditions = set_condition(
        tracker.status.get("conditions", []),
        RECONCILED,
        False,
        Reconcile.AWAITING_APPROVAL,
        f"plan {id_} ({plan.summary()}) waits for approval: {approve}",
        generation,
    )
    await rt.write_status(
        tracker,
        {
            "plan": plan_status(plan, id_, PlanState.AWAITING_APPROVAL, generation, now()),
            "observedGeneration": generation,
            **readiness_status(conditions, readiness(tracker.statefulset), generation),
        },
    )
    changes = "; ".join(
        f"{step.action} {step.resource}" + (f" ({', '.join(step.fields)})" if step.fields else "")
        for step in plan.changes
    )
    message = f"plan {id_}: {plan.summary()}" + (f" [{changes}]" if changes else "") + f". Approve: {approve}"
    if plan.data_loss:
        events.warning(body, "PlanReady", f"DATA LOSS possible: {message}")
    else:
        events.normal(body, "PlanReady", message)


async def apply_again(rt: Runtime, body: kopf.Body) -> None:
    """The same spec applied again from the Database's watch: a certificate to renew (certificate_renewal.py), a
    restored Database's backup mount to drop (backups.restore_mount_left). A failure is in its status already
    (apply_database reports it), and the watch tries again later."""
    with contextlib.suppress(kopf.TemporaryError, kopf.PermanentError):
        await apply_database(rt, body, retry=0)


async def apply_database(
    rt: Runtime, body: kopf.Body, retry: int, approval_changed: bool = False, resumed: bool = False
) -> None:
    """Bring the Database's objects to its spec, through the approval gate when the spec asks for it.
    Raises kopf's Temporary/PermanentError to drive retries. `approval_changed`: the approval annotation was
    just set, so an approval that names another plan is reported as refused. `resumed`: the operator (re)started;
    a configuration applied before is not applied again, drift checks verify the live objects instead."""
    namespace, name, generation = (
        body.metadata.namespace or "default",
        body.metadata.name or "",
        body.metadata.get("generation"),
    )
    tracker = rt.tracker(namespace, name, dict(body.status))
    try:
        restored_from = await resolve_restore(rt, namespace, body.spec, tracker.status.get("restoredFrom"))
        request = stack_input(
            rt, namespace, name, body.spec, dump_to_load(restored_from, tracker.status), body.metadata.uid
        )
        request = replace(request, tls_renewal=body.metadata.annotations.get(RENEW_ANNOTATION))
    except SpecError as error:
        await record_failure(
            rt, tracker, Reconcile.INVALID_SPEC, str(error), generation, failed_operation_summary("up", str(error), 0)
        )
        events.warning(body, "InvalidSpec", str(error))
        raise kopf.PermanentError(str(error)) from error
    except BackupNotReady as waiting:
        message = f"spec.restore.backup: {waiting}; the Database is created once it has succeeded"
        await record_failure(
            rt, tracker, Reconcile.WAITING_FOR_BACKUP, message, generation, failed_operation_summary("up", message, 0)
        )
        events.normal(body, "WaitingForBackup", message)
        raise kopf.TemporaryError(message, delay=15) from waiting
    except Exception as error:  # e.g. the API server unreachable: reported, and retried like any transient error
        await report_failure(rt, tracker, body, retry, "up", error, 0)

    plan = tracker.status.get("plan")
    gated = approval_required(request.spec.get("updatePolicy"), plan)
    id_ = plan_id(generation, request.configuration)
    if (
        resumed
        and tracker.status.get("appliedConfiguration") == id_
        and reconciled(tracker.status.get("conditions", []), generation)
    ):
        tracker.applied(generation)  # in sync as far as the spec goes: no `up`
        return
    outcome = decide(gated, id_, plan, body.metadata.annotations.get(APPROVAL_ANNOTATION))
    if approval_changed and outcome.refused_approval:
        events.warning(
            body,
            "ApprovalRefused",
            f"approval of plan {outcome.refused_approval} refused: the current plan is {id_} "
            "(the spec changed since that plan was made, or the id is wrong); review and approve the current plan",
        )
    if outcome.decision is Decision.WAIT:
        return
    try:
        claims = await data_volumes(rt.kube, namespace, name)  # listed once: for the passwords and for growth
        request = await with_live_passwords(rt, request, claims)
    except Exception as error:
        await report_failure(rt, tracker, body, retry, "up", error, 0)
    await refuse_foreign_objects(rt, tracker, body, request)
    if outcome.decision is Decision.PLAN:
        await propose_plan(rt, tracker, body, request, id_, retry)
        return

    refresh = await grow_volumes(rt, tracker, body, request, claims)
    forget = legacy_pod_files(name, tracker.statefulset)
    result = await run_stack_operation(rt, tracker, body, retry, "up", lambda: rt.stacks.up(request, refresh, forget))
    await record_owned_objects(rt, tracker, drift_checked=False)
    tracker.applied(generation)
    status = succeeded_status(tracker, result, generation)
    status["appliedConfiguration"] = id_
    if restored_from:
        status["restoredFrom"] = restored_from
    if gated:
        # Leaving the gate (policy now Automatic) drops the plan; otherwise the plan is marked applied.
        stays_gated = request.spec.get("updatePolicy") == UpdatePolicy.REQUIRE_APPROVAL.value
        status["plan"] = {**plan, "state": PlanState.APPLIED.value} if stays_gated and plan else None
    await rt.write_status(tracker, status)
    events.normal(body, "Applied", f"pulumi up: {change_counts(result.changes)} in {result.duration_seconds:.1f}s")

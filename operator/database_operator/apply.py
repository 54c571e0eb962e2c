"""Create and update: validate the spec, run `pulumi up` for the Database's stack, report the result."""

import time
from typing import Any

import kopf

from database_api.spec import SpecError, checked_spec
from database_operator import events
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.settings import OperatorSettings
from database_operator.stacks import OperationResult, StackError, StackInput, stack_name
from database_operator.status import (
    RECONCILED,
    change_counts,
    failed_operation_summary,
    operation_summary,
    outputs_status,
    readiness,
    readiness_status,
    set_condition,
)
from database_program.context import credentials_secret_name


def backoff_seconds(settings: OperatorSettings, retry: int) -> float:
    """Bounded exponential backoff for transient failures: base, 2x base, 4x base, ... up to the maximum."""
    return float(min(settings.retry_max_seconds, settings.retry_base_seconds * 2**retry))


async def stack_input(rt: Runtime, body: kopf.Body) -> StackInput:
    """The stack configuration for a Database; raise SpecError (naming each field) if its spec is invalid."""
    spec = checked_spec(dict(body.spec), rt.stacks_config)
    namespace, name = body.metadata.namespace or "default", body.metadata.name or ""
    live = await rt.kube.read_secret(namespace, credentials_secret_name(name)) or {}
    return StackInput(
        namespace=namespace,
        name=name,
        live_passwords={
            key: live[secret_key]
            for key, secret_key in (("adminPassword", "admin-password"), ("userPassword", "password"))
            if secret_key in live
        },
        spec=spec.model_dump(by_alias=True, exclude_none=True, mode="json"),
        engine_profile=rt.stacks_config.engine(spec.type).model_dump(by_alias=True, mode="json"),
        environment_profile=rt.stacks_config.environment(spec.environment).model_dump(by_alias=True, mode="json"),
        service_monitor_available=rt.service_monitor_available,
    )


def succeeded_status(tracker: DatabaseTracker, result: OperationResult, generation: int | None) -> dict[str, Any]:
    """Status after a successful `up`: outputs, the operation, and phase from the live StatefulSet."""
    conditions = set_condition(
        tracker.status.get("conditions", []),
        RECONCILED,
        True,
        "Applied",
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


async def apply_database(rt: Runtime, body: kopf.Body, retry: int) -> None:
    """Bring the Database's objects to its spec. Raises kopf's Temporary/PermanentError to drive retries."""
    namespace, name, generation = (
        body.metadata.namespace or "default",
        body.metadata.name or "",
        body.metadata.get("generation"),
    )
    tracker = rt.tracker(namespace, name, dict(body.status))
    started = time.monotonic()
    try:
        request = await stack_input(rt, body)
    except SpecError as error:
        await record_failure(
            rt, tracker, "InvalidSpec", str(error), generation, failed_operation_summary("up", str(error), 0)
        )
        events.warning(body, "InvalidSpec", str(error))
        raise kopf.PermanentError(str(error)) from error

    try:
        result = await rt.run_operation(tracker, lambda: rt.stacks.up(request))
    except StackError as error:
        summary = failed_operation_summary("up", str(error), time.monotonic() - started)
        if error.transient:
            delay = backoff_seconds(rt.settings, retry)
            message = f"{error} (retrying in {delay:.0f}s)"
            await record_failure(rt, tracker, "Retrying", message, generation, summary)
            events.warning(body, "RetryingOperation", message)
            raise kopf.TemporaryError(str(error), delay=delay) from error
        await record_failure(rt, tracker, "OperationFailed", str(error), generation, summary)
        events.warning(body, "OperationFailed", str(error))
        raise kopf.PermanentError(str(error)) from error

    tracker.applied_generation = generation
    await rt.write_status(tracker, succeeded_status(tracker, result, generation))
    events.normal(body, "Applied", f"pulumi up: {change_counts(result.changes)} in {result.duration_seconds:.1f}s")

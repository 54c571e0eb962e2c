"""Pure functions that turn what happened (operations, live StatefulSets, backup Jobs) into Database status."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from database_api.status import Condition, OperationSummary, Phase, StackOutputs
from database_operator.stacks import OperationResult

READY = "Ready"
RECONCILED = "Reconciled"
DRIFTED = "Drifted"
BACKUP_FAILED = "BackupFailed"


class Reconcile(StrEnum):
    """Why the Reconciled condition is what it is: the one place its reasons are defined, and what the phase
    is derived from."""

    APPLIED = "Applied"
    AWAITING_APPROVAL = "AwaitingApproval"
    """A spec change waits for its plan to be approved."""
    WAITING_FOR_BACKUP = "WaitingForBackup"
    """A restore waits for its DatabaseBackup to succeed."""
    RETRYING = "Retrying"
    """A transient failure, within the retry budget."""
    RETRIES_EXHAUSTED = "RetriesExhausted"
    """More transient failures than the retry budget: Failed, and still retried."""
    OPERATION_FAILED = "OperationFailed"
    """A failure only a spec change can fix."""
    INVALID_SPEC = "InvalidSpec"
    # Refusals that keep data and credentials (issue 16); each needs someone to act, so the Database is Failed.
    CREDENTIALS_MISSING = "CredentialsMissing"
    """A password is nowhere while data volumes exist: no new one is made up (passwords.py)."""
    DATA_PROTECTION = "DataProtection"
    """A step would delete or replace a protected object (guard.py)."""
    FOREIGN_OBJECT = "ForeignObject"
    """An object of a declared name is not the Database's: not adopted (ownership.py). Checked again later."""
    STORAGE_REFUSED = "StorageRefused"
    """A size increase its StorageClass cannot make (storage.py). Checked again later."""
    STORAGE_WAITING = "StorageWaiting"
    """A volume cannot grow yet (not bound); retried."""

    @property
    def failed(self) -> bool:
        return self in (
            Reconcile.RETRIES_EXHAUSTED,
            Reconcile.OPERATION_FAILED,
            Reconcile.INVALID_SPEC,
            Reconcile.CREDENTIALS_MISSING,
            Reconcile.DATA_PROTECTION,
            Reconcile.FOREIGN_OBJECT,
            Reconcile.STORAGE_REFUSED,
        )


@dataclass(frozen=True)
class Reconciliation:
    """The Reconciled condition as typed state."""

    succeeded: bool
    reason: Reconcile | None
    """None for a reason this version does not know (written by another one): no phase is made up from it."""
    generation: int | None

    @classmethod
    def of(cls, conditions: list[dict[str, Any]]) -> "Reconciliation | None":
        condition = next((c for c in conditions if c.get("type") == RECONCILED), None)
        if condition is None:
            return None
        reason = str(condition.get("reason"))
        return cls(
            succeeded=condition.get("status") == "True",
            reason=Reconcile(reason) if reason in set(Reconcile) else None,
            generation=condition.get("observedGeneration"),
        )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Conditions with `type_` replaced (status None: Unknown); lastTransitionTime moves only when the status
    really changes."""
    value = "Unknown" if status is None else "True" if status else "False"
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == value else now()
    condition = Condition(
        type=type_,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    ).model_dump(by_alias=True, exclude_none=True)
    return [*(c for c in conditions if c.get("type") != type_), condition]


def condition_is(conditions: list[dict[str, Any]], type_: str, status: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == status for c in conditions)


@dataclass(frozen=True)
class Readiness:
    desired: int
    ready: int
    current: bool
    """The StatefulSet controller has seen the latest StatefulSet spec and rolled every pod to it."""
    outdated: int = 0
    """Pods that run an older template of the latest spec (a roll goes on)."""

    @property
    def all_ready(self) -> bool:
        return self.current and self.desired > 0 and self.ready >= self.desired


def readiness(statefulset: Mapping[str, Any] | None) -> Readiness | None:
    if statefulset is None:
        return None
    spec, status = statefulset.get("spec") or {}, statefulset.get("status") or {}
    desired = int(spec.get("replicas", 1))
    generation = statefulset.get("metadata", {}).get("generation")
    observed = status.get("observedGeneration") == generation
    updated = int(status.get("updatedReplicas") or 0)
    outdated = max(0, int(status.get("replicas") or 0) - updated) if observed else 0
    ready = int(status.get("readyReplicas") or 0)
    return Readiness(desired=desired, ready=ready, current=observed and updated >= desired, outdated=outdated)


def reconciled(conditions: list[dict[str, Any]], generation: int | None) -> bool:
    """The last `up` succeeded for this very generation of the spec."""
    state = Reconciliation.of(conditions)
    return state is not None and state.succeeded and state.generation == generation


def phase(conditions: list[dict[str, Any]], live: Readiness | None, generation: int | None) -> Phase:
    """Failed while the last operation failed for good (or beyond the retry budget); otherwise what the live
    StatefulSet shows, and Ready only once the current spec has been applied."""
    state = Reconciliation.of(conditions)
    if state is not None and not state.succeeded and state.reason is not None and state.reason.failed:
        return Phase.FAILED
    if state is not None and state.reason is Reconcile.AWAITING_APPROVAL:
        return Phase.AWAITING_APPROVAL
    if live is None or state is None or not state.succeeded:  # never applied (or not since it failed)
        return Phase.CREATING if conditions or live else Phase.PENDING
    if live.all_ready and reconciled(conditions, generation):
        return Phase.READY
    if live.outdated and reconciled(conditions, generation):
        return Phase.UPDATING
    return Phase.PARTIALLY_READY if live.ready > 0 else Phase.CREATING


def readiness_status(
    conditions: list[dict[str, Any]], live: Readiness | None, generation: int | None
) -> dict[str, Any]:
    """The status fields that follow the live StatefulSet: phase, ready, replicas and the Ready condition."""
    applied = reconciled(conditions, generation)
    ready = live is not None and live.all_ready and applied
    state = Reconciliation.of(conditions)
    reason: str
    if state is not None and state.reason is Reconcile.AWAITING_APPROVAL:
        reason, message = Reconcile.AWAITING_APPROVAL, "the spec change waits for approval of its plan (status.plan)"
    elif live is None:
        reason, message = "NoStatefulSet", "the StatefulSet does not exist yet"
    elif not applied:
        reason, message = "Reconciling", f"the spec is being applied; {live.ready}/{live.desired} replicas ready"
    elif live.outdated and not ready:
        reason = Phase.UPDATING.value
        message = f"{live.outdated} pods run an older template; {live.ready}/{live.desired} replicas ready"
    else:
        reason = "AllReplicasReady" if ready else "ReplicasNotReady"
        message = f"{live.ready}/{live.desired} replicas ready"
    conditions = set_condition(conditions, READY, ready, reason, message, generation)
    return {
        "phase": phase(conditions, live, generation).value,
        "ready": ready,
        "replicas": live.ready if live else 0,
        "conditions": conditions,
    }


def operation_summary(result: OperationResult) -> dict[str, Any]:
    changes = result.changes
    return OperationSummary(
        kind=result.kind,
        result="succeeded",
        created=changes.get("create", 0),
        updated=changes.get("update", 0),
        deleted=changes.get("delete", 0),
        replaced=changes.get("replace", 0),
        unchanged=changes.get("same", 0),
        duration_seconds=round(result.duration_seconds, 3),
        time=result.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ).model_dump(by_alias=True, exclude_none=True)


def failed_operation_summary(kind: str, message: str, duration_seconds: float) -> dict[str, Any]:
    return OperationSummary(
        kind=kind, result="failed", message=message, duration_seconds=round(duration_seconds, 3), time=now()
    ).model_dump(by_alias=True, exclude_none=True)


_OUTPUT_KEYS = frozenset(StackOutputs.model_json_schema(by_alias=True)["properties"])


def outputs_status(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Only the known, non-secret outputs reach the status."""
    known = {key: value for key, value in outputs.items() if key in _OUTPUT_KEYS}
    return StackOutputs.model_validate(known).model_dump(by_alias=True, exclude_none=True)


def change_counts(changes: Mapping[str, int]) -> str:
    parts = [f"{count} to {op}" for op, count in sorted(changes.items()) if op != "same" and count]
    return ", ".join(parts) or "no changes"


@dataclass(frozen=True)
class BackupJob:
    """A finished backup Job, as the watch saw it."""

    name: str
    succeeded: bool
    finished_at: str
    reason: str = ""
    message: str = ""


def finished_backup_job(job: Mapping[str, Any]) -> BackupJob | None:
    """A Job's outcome from its conditions (Complete / Failed); None while it is still running."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True" or condition.get("type") not in ("Complete", "Failed"):
            continue
        succeeded = condition["type"] == "Complete"
        finished = (job.get("status") or {}).get("completionTime") if succeeded else None
        return BackupJob(
            name=job["metadata"]["name"],
            succeeded=succeeded,
            finished_at=finished or condition.get("lastTransitionTime") or now(),
            reason=condition.get("reason") or "",
            message=condition.get("message") or "",
        )
    return None


def backup_status(
    conditions: list[dict[str, Any]], jobs: list[BackupJob], last_backup: str | None, generation: int | None
) -> dict[str, Any]:
    """lastBackup is the completion time of the newest successful Job; BackupFailed follows the newest Job."""
    successes = [job.finished_at for job in jobs if job.succeeded]
    newest_success = max([*successes, *([last_backup] if last_backup else [])], default=None)
    changes: dict[str, Any] = {"lastBackup": newest_success} if newest_success else {}
    if jobs:
        newest = max(jobs, key=lambda job: job.finished_at)
        if newest.succeeded:
            if condition_is(conditions, BACKUP_FAILED, "True"):
                conditions = set_condition(conditions, BACKUP_FAILED, False, "BackupSucceeded", newest.name, generation)
        else:
            message = f"Job {newest.name}: {newest.reason} {newest.message}".strip()
            conditions = set_condition(
                conditions, BACKUP_FAILED, True, newest.reason or "JobFailed", message, generation
            )
        changes["conditions"] = conditions
    return changes

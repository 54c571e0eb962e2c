"""Delete: the finalizer runs `pulumi destroy` and removes the stack before the Database goes away.

Data volumes follow the deletion policy, which the program turned into the StatefulSet's
persistentVolumeClaimRetentionPolicy and the Secrets' retain-on-delete. The backup volume is retained by every
stack operation (turning backups off keeps the dumps), so under Delete it is deleted here, after the destroy.
The Database's backup Jobs go first: a pod that used a volume, even a finished one, keeps it from being deleted.
A Database that failed for any reason, even with a spec or a name no longer valid, can always be deleted.
"""

import re

import kopf

from database_api.names import backup_name
from database_api.profiles import DeletionPolicy, Environment
from database_operator import events
from database_operator.apply import backoff_seconds
from database_operator.observe import COMPONENT_LABEL, INSTANCE_LABEL
from database_operator.ownership import is_own
from database_operator.runtime import Runtime
from database_operator.stack_errors import StackError
from database_operator.status import change_counts

_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_VALUE_LIMIT = 63


def label_value_valid(value: str) -> bool:
    """Whether a label selector may name this value: a Database stored under older rules may have a name that
    cannot be a label value (and then no object carries it as one)."""
    return len(value) <= _LABEL_VALUE_LIMIT and _LABEL_VALUE.fullmatch(value) is not None


def deletion_policy(rt: Runtime, spec: kopf.Spec) -> DeletionPolicy:
    """The Database's deletion policy; Retain when its spec cannot say (nothing is deleted on a guess)."""
    try:
        policy = spec.get("deletionPolicy")
        if policy:
            return DeletionPolicy(policy)
        return rt.stacks_config.environment(Environment(spec.get("environment", "development"))).deletion_policy
    except (ValueError, KeyError):
        return DeletionPolicy.RETAIN


async def delete_backup_volume(rt: Runtime, namespace: str, name: str, uid: str | None) -> None:
    """The backup volume, if it is the Database's own."""
    claim = backup_name(name)
    metadata = await rt.kube.read_metadata("v1", "persistentvolumeclaims", namespace, claim)
    if metadata is not None and is_own(metadata, name, uid):
        await rt.kube.delete_volume_claim(namespace, claim)


async def delete_database(rt: Runtime, body: kopf.Body, retry: int) -> None:
    namespace, name = body.metadata.namespace or "default", body.metadata.name or ""
    tracker = rt.tracker(namespace, name, dict(body.status))
    await rt.write_status(tracker, {"phase": "Deleting", "ready": False})
    if label_value_valid(name):
        await rt.kube.delete_jobs(namespace, f"{INSTANCE_LABEL}={name},{COMPONENT_LABEL}=backup")
    try:
        result = await rt.run_operation(tracker, lambda: rt.stacks.destroy(namespace, name))
    except StackError as error:
        delay = backoff_seconds(rt.settings, retry)
        events.warning(body, "DeleteFailed", f"pulumi destroy: {error} (retrying in {delay:.0f}s)")
        raise kopf.TemporaryError(str(error), delay=delay) from error
    if deletion_policy(rt, body.spec) is DeletionPolicy.DELETE:
        await delete_backup_volume(rt, namespace, name, body.metadata.uid)
    events.normal(body, "Deleted", f"pulumi destroy: {change_counts(result.changes)}; stack removed")
    rt.forget(namespace, name)

"""Delete: the finalizer runs `pulumi destroy` and removes the stack before the Database goes away.

Data volumes follow the deletion policy, which the program turned into the StatefulSet's
persistentVolumeClaimRetentionPolicy and the backup volume's retain-on-delete. The Database's backup Jobs go
first: a pod that used a volume, even a finished one, keeps it from being deleted.
"""

import kopf

from database_operator import events
from database_operator.apply import backoff_seconds
from database_operator.observe import COMPONENT_LABEL, INSTANCE_LABEL
from database_operator.runtime import Runtime
from database_operator.stack_errors import StackError
from database_operator.status import change_counts


async def delete_database(rt: Runtime, body: kopf.Body, retry: int) -> None:
    namespace, name = body.metadata.namespace or "default", body.metadata.name or ""
    tracker = rt.tracker(namespace, name, dict(body.status))
    await rt.write_status(tracker, {"phase": "Deleting", "ready": False})
    await rt.kube.delete_jobs(namespace, f"{INSTANCE_LABEL}={name},{COMPONENT_LABEL}=backup")
    try:
        result = await rt.run_operation(tracker, lambda: rt.stacks.destroy(namespace, name))
    except StackError as error:
        delay = backoff_seconds(rt.settings, retry)
        events.warning(body, "DeleteFailed", f"pulumi destroy: {error} (retrying in {delay:.0f}s)")
        raise kopf.TemporaryError(str(error), delay=delay) from error
    events.normal(body, "Deleted", f"pulumi destroy: {change_counts(result.changes)}; stack removed")
    rt.forget(namespace, name)

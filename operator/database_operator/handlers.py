"""kopf handlers: thin adapters from watch events to the services in apply, deletion, drift and observe."""

import asyncio
import logging
from typing import Any

import kopf

from database_api.backup import BACKUP_PLURAL
from database_api.crd import GROUP, PLURAL, VERSION
from database_api.profiles import load_stacks_config
from database_operator.admission import admission_errors, defaulted_spec
from database_operator.admission_safety import safety_errors
from database_operator.apply import apply_database
from database_operator.backups import BACKUP_LABEL, observe_on_demand_job, start_backup
from database_operator.deletion import delete_database
from database_operator.diffbase import LeanAnnotationsDiffBaseStorage
from database_operator.failover import SWITCHOVER_ANNOTATION
from database_operator.gate import APPROVAL_ANNOTATION
from database_operator.kube import Kube
from database_operator.leadership import configure_peering
from database_operator.observe import observe_backup_job, observe_database_pod, observe_owned_object, watch_database
from database_operator.precheck import precheck_forever
from database_operator.runtime import Runtime
from database_operator.server_tls import RENEW_ANNOTATION
from database_operator.settings import load_settings
from database_operator.stacks import Stacks
from database_operator.watches import (
    BACKUP_JOB,
    DATABASE_POD,
    JOBS,
    MANAGED,
    OWNED_KINDS,
    PODS,
    filter_watches_server_side,
)
from database_operator.webhooks import (
    DEFAULTS,
    RULES,
    no_webhook_server,
    renew_certificate_forever,
    webhook_server,
)

DATABASE = (GROUP, VERSION, PLURAL)
FINALIZER = f"{GROUP}/finalizer"
# kopf's own annotations (handler progress, last handled spec). kopf ignores every annotation under this prefix
# when it compares objects, so it must not be the prefix of annotations users set, like the plan approval.
KOPF_PREFIX = f"operator.{GROUP}"


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo["runtime"]
    return runtime


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Load and check everything before the first event: bad settings, data or toolchain stop the operator."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = LeanAnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events say what happened; kopf's would repeat them
    filter_watches_server_side(settings)
    operator_settings = load_settings()
    configure_peering(settings, operator_settings.peering_lifetime_seconds)
    stacks = Stacks(operator_settings)  # before connecting: a bad toolchain or backend leaves no session open
    kube = await Kube.connect()
    if operator_settings.webhooks:
        settings.admission.server = webhook_server(operator_settings, kube.configure_webhooks)
        memo["certificate_renewal"] = asyncio.create_task(renew_certificate_forever(operator_settings))
    else:
        settings.admission.server = no_webhook_server
    if not await kube.ensure_peering(settings.peering.name):
        await kube.close()
        raise kopf.TemporaryError("ClusterKopfPeering is not served: apply crds/database.yaml", delay=5)
    stacks.processes.register()  # and end what a crashed predecessor left running
    memo["runtime"] = Runtime(
        settings=operator_settings,
        stacks_config=load_stacks_config(),
        stacks=stacks,
        kube=kube,
        service_monitor_available=await kube.serves_api_group("monitoring.coreos.com"),
    )
    memo["drift_precheck"] = asyncio.create_task(precheck_forever(memo["runtime"]))
    logging.getLogger(__name__).info(
        "backend %s, at most %d operations at once",
        operator_settings.effective_backend_url,
        operator_settings.max_concurrent_operations,
    )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for task in ("certificate_renewal", "drift_precheck"):
        if task in memo:
            memo[task].cancel()
    if "runtime" in memo:
        rt = _runtime(memo)
        # End the Pulumi processes of running operations (their stacks are recovered at the next start), then
        # wait for the operations' threads, so no process outlives the operator.
        await asyncio.to_thread(rt.stacks.stop, rt.settings.shutdown_grace_seconds)
        await asyncio.to_thread(rt.executor.shutdown, wait=True, cancel_futures=True)
        await rt.kube.close()


# Admission (configurations in webhooks.py). failurePolicy is Fail: while the operator is down, creating or
# changing a Database is refused ("failed calling webhook") rather than stored without its defaults; deleting
# still works, and the CRD's own CEL rules keep guarding the business rules. The configurations stay when the
# operator stops, so a restart or rollout never opens a window in which Databases are stored unchecked.
@kopf.on.mutate(*DATABASE, id=DEFAULTS.id, operations=list(DEFAULTS.operations), side_effects=False)
async def defaults(spec: kopf.Spec, meta: kopf.Meta, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    if meta.get("deletionTimestamp"):
        return  # being deleted: only finalizers change now
    old: kopf.Body | None = kwargs.get("old")  # the stored object, on UPDATE
    defaulted = defaulted_spec(spec, _runtime(memo).stacks_config, old.get("spec") if old else None)
    if defaulted is not None and defaulted != dict(spec):
        patch["spec"] = defaulted


@kopf.on.validate(*DATABASE, id=RULES.id, operations=list(RULES.operations), side_effects=False)
async def rules(spec: kopf.Spec, meta: kopf.Meta, memo: kopf.Memo, **kwargs: Any) -> None:
    old: kopf.Body | None = kwargs.get("old")  # the stored object, on UPDATE
    old_spec = old.get("spec") if old else None
    errors = admission_errors(spec, old_spec, _runtime(memo).stacks_config)
    if not errors:
        kube = _runtime(memo).kube
        errors = await safety_errors(kube, meta.get("namespace") or "default", meta.get("name") or "", spec, old_spec)
    if errors:
        raise kopf.AdmissionError("; ".join(errors), code=422)


@kopf.on.create(*DATABASE)
@kopf.on.update(*DATABASE, field="spec")
async def reconcile(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    await apply_database(_runtime(memo), body, retry)


@kopf.on.resume(*DATABASE)
async def resume(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    await apply_database(_runtime(memo), body, retry, resumed=True)


@kopf.on.update(*DATABASE, id="approval", field=("metadata", "annotations", APPROVAL_ANNOTATION))
async def approval(body: kopf.Body, retry: int, memo: kopf.Memo, new: object, **_: Any) -> None:
    """The approval annotation was set or changed: apply the plan it names, if that is the current plan."""
    if new:
        await apply_database(_runtime(memo), body, retry, approval_changed=True)


@kopf.on.update(*DATABASE, id="renew-certificate", field=("metadata", "annotations", RENEW_ANNOTATION))
async def renew_certificate(body: kopf.Body, retry: int, memo: kopf.Memo, new: object, **_: Any) -> None:
    """The renewal annotation got a new value: apply the Database, which renews its server certificate."""
    if new:
        await apply_database(_runtime(memo), body, retry)


@kopf.on.update(*DATABASE, id="switchover", field=("metadata", "annotations", SWITCHOVER_ANNOTATION))
async def switchover(body: kopf.Body, memo: kopf.Memo, new: object, **_: Any) -> None:
    """A switchover was asked for: the Database's watcher daemon carries it out (failover.py)."""
    if new:
        _runtime(memo).observed(body.metadata.namespace or "default", body.metadata.name or "").poke.set()


@kopf.on.delete(*DATABASE)
async def delete(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    await delete_database(_runtime(memo), body, retry)


@kopf.daemon(*DATABASE, cancellation_timeout=10)
async def watcher(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    await watch_database(_runtime(memo), body, stopped)


def _owned_object_handler(group: str, version: str, plural: str) -> None:
    @kopf.on.event(group, version, plural, labels=MANAGED, id=f"observe-{plural}")
    async def observe(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        observe_owned_object(_runtime(memo), event.get("type"), body)


for _group, _version, _plural in OWNED_KINDS:
    _owned_object_handler(_group, _version, _plural)


@kopf.on.event(*PODS, labels=DATABASE_POD)
async def database_pod(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await observe_database_pod(_runtime(memo), event.get("type"), body)  # role label, status.instances


@kopf.on.event(*JOBS, labels=BACKUP_JOB)
async def backup_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    observe_backup_job(_runtime(memo), body)  # the Database's lastBackup and BackupFailed
    if BACKUP_LABEL in body.metadata.labels:
        await observe_on_demand_job(_runtime(memo), body)  # the DatabaseBackup's status


@kopf.on.create(GROUP, VERSION, BACKUP_PLURAL)
async def backup_now(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await start_backup(_runtime(memo), body)

"""The stack driver: runs one Database's stack operations (up, preview, destroy) in the operator's workspace.

Every Database is one stack of the `database` project (stack_names.py). Its workspace directory keeps
`Pulumi.<stack>.yaml` (settings_file.py; the configuration the program reads, with the generated passwords
encrypted by the passphrase: passwords.py), so `pulumi preview --config-file` on that file shows exactly what
the operator would do. An operation a crash cut short is recovered before the next (recovery.py).
All methods block: callers run them in a worker thread.
"""

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pulumi import automation as auto

from database_api.names import CONFIG_NAMESPACE
from database_api.network import OperatorPeers
from database_api.profiles import DeletionPolicy
from database_operator.automation import (
    OperatorStack,
    OperatorWorkspace,
    cli_environment,
    drop_sdk_debug_messages,
    quiet_program_server,
)
from database_operator.cli_logs import switch_off_cli_logs
from database_operator.engine_events import StackEvents, resource_step
from database_operator.file_backend import FileBackend, directory
from database_operator.guard import protection_refusal
from database_operator.operation import Operation
from database_operator.passphrase import Passphrase
from database_operator.passwords import LivePasswordsUnread, PasswordStore, recover_passwords
from database_operator.plan import ResourceStep
from database_operator.processes import PulumiProcesses
from database_operator.recovery import (
    clear_in_flight,
    holder_alive,
    interrupted,
    lock_holders,
    mark_in_flight,
    recover,
)
from database_operator.server_tls import CA_CERTIFICATE, CA_KEY, TLS_KEYS, TlsRequest, TlsStore
from database_operator.settings import OperatorSettings
from database_operator.settings_file import configured_value, edit_settings, settings_file
from database_operator.stack_errors import StackBusy, StackError, StackOperationFailed, classify
from database_operator.stack_names import PROJECT, stack_name
from database_operator.state_backend import check_backend
from database_operator.toolchain import check_toolchain
from database_program.program import declare_from_stack_config

CONFIG_MAP_TYPE = "kubernetes:core/v1:ConfigMap"

logger = logging.getLogger(__name__)
NO_DEPLOYMENT = "no previous deployment"
"""What `pulumi config refresh` says of a stack that was never updated."""
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class StackInput:
    """Everything one Database's stack is configured with."""

    namespace: str
    name: str
    spec: Mapping[str, Any]
    engine_profile: Mapping[str, Any]
    environment_profile: Mapping[str, Any]
    service_monitor_available: bool = False
    restore: Mapping[str, str] | None = None
    """The dump to load on first start: {"claim": backup volume, "file": dump file on it} (config `restore`)."""
    live_passwords: Mapping[str, str] | None = field(default_factory=dict)
    """Passwords and TLS material in the Database's live Secrets (by key of passwords.SECRET_OF_PASSWORD and
    server_tls.SECRET_OF_TLS), if any: a stack without its own adopts them, so a database that already runs keeps
    its credentials and its CA. None: not read, because the stack's settings held all of them
    (apply.with_live_passwords)."""
    data_volumes: tuple[str, ...] = ()
    """The Database's existing data volume claims: with data, a missing password is an error, never a new one."""
    uid: str | None = None
    """The Database's uid, for the ownerReferences of its objects (None: not created yet, e.g. a preview)."""
    operator_peers: OperatorPeers = field(default_factory=OperatorPeers)
    """Where this operator reads the exporters from (settings): the NetworkPolicy admits it there."""
    tls_renewal: str | None = None
    """The Database's renewal annotation: a value not honoured yet renews the server certificate now."""

    @property
    def stack(self) -> str:
        return stack_name(self.namespace, self.name)

    @property
    def deletes_volumes(self) -> bool:
        """The data volumes go with the StatefulSet (deletionPolicy Delete): replacing it loses data."""
        return bool(self.spec.get("deletionPolicy") == DeletionPolicy.DELETE.value)

    @property
    def configuration(self) -> dict[str, Any]:
        """Everything the stack is configured with except the passwords: what a plan id stands for."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "spec": self.spec,
            "engineProfile": self.engine_profile,
            "environmentProfile": self.environment_profile,
            "serviceMonitorAvailable": self.service_monitor_available,
            "restore": self.restore,
            "uid": self.uid,
            "operatorPeers": self.operator_peers.to_config(),
        }


@dataclass(frozen=True)
class OperationResult:
    kind: str
    changes: Mapping[str, int]
    duration_seconds: float
    finished_at: datetime
    outputs: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[ResourceStep, ...] = ()
    """Per-object steps, for previews."""

    @property
    def changed(self) -> bool:
        return any(count for op, count in self.changes.items() if op != "same")


def _finished(kind: str, started: float, changes: Mapping[Any, int] | None, **details: Any) -> OperationResult:
    """The summary of an operation that began at `started` (monotonic) and just ended."""
    return OperationResult(
        kind=kind,
        changes={str(getattr(op, "value", op)): count for op, count in (changes or {}).items()},
        duration_seconds=time.monotonic() - started,
        finished_at=datetime.now(UTC),
        **details,
    )


@dataclass(frozen=True)
class DriftCheck:
    found: OperationResult
    """The `preview --refresh`: its changes are the drift."""
    corrected: OperationResult | None = None
    """The `up --refresh` that re-applied the configuration, if the drift was corrected."""


def _forget_config_maps(stack: OperatorStack, names: tuple[str, ...]) -> None:
    """Drop the ConfigMaps of these logical names from the stack's state (OperatorStack.forget)."""
    for name in names:
        stack.forget(f"urn:pulumi:{stack.name.rsplit('/', 1)[-1]}::{PROJECT}::{CONFIG_MAP_TYPE}::{name}")


class Stacks:
    """Creates, updates, previews and destroys the stacks. One instance per operator process."""

    def __init__(self, settings: OperatorSettings, program: Callable[[], None] = declare_from_stack_config) -> None:
        self._settings = settings
        self._program = program
        switch_off_cli_logs(os.environ)
        self._command = check_toolchain()
        backend_url = settings.effective_backend_url
        check_backend(
            self._command.command, backend_url, {**os.environ, **cli_environment(backend_url, settings.passphrase)}
        )
        quiet_program_server()
        drop_sdk_debug_messages()
        self._selected: dict[str, OperatorStack] = {}
        """Stacks already selected in the operator's workspaces: selecting costs a CLI run, once per stack
        (none in a file backend: OperatorWorkspace)."""
        self._created: set[str] = set()
        """Stacks this process created in the operator's workspaces: they have no outputs to recover passwords
        from. Never a preview's scratch stack: the real one of that name may well have outputs."""
        self._passphrase = Passphrase(settings.passphrase)
        self._passwords = PasswordStore(self._passphrase)
        self._tls = TlsStore(self._passphrase)
        self.processes = PulumiProcesses(settings.state_dir)
        """The Pulumi processes of this operator instance (ended at shutdown, and after a crash)."""
        self.stopping = False
        """Set at shutdown: operations ended now are cut short, not failed."""

    def stop(self, grace_seconds: float) -> None:
        """End every Pulumi process this instance started (SIGTERM, then SIGKILL after the grace period)."""
        self.stopping = True
        self.processes.end_all(grace_seconds)

    # -- workspaces -------------------------------------------------------------------------------------

    def _workspace_dir(self, stack: str) -> Path:
        return self._settings.workspaces_dir / stack

    def _select(
        self, stack: str, work_dir: Path | None = None, backend_url: str | None = None, create: bool = True
    ) -> OperatorStack:
        """The stack in its workspace (by default the operator's own); with create=False a missing stack raises
        StackNotFoundError instead of being created."""
        own_workspace = work_dir is None
        work_dir = work_dir or self._workspace_dir(stack)
        backend_url = backend_url or self._settings.effective_backend_url
        work_dir.mkdir(parents=True, exist_ok=True)
        if create:
            FileBackend.prepare(backend_url)
        workspace = OperatorWorkspace(
            FileBackend.of(backend_url),
            work_dir=str(work_dir),
            program=self._program,
            env_vars=cli_environment(backend_url, self._settings.passphrase),
            secrets_provider="passphrase",
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python", backend=auto.ProjectBackend(backend_url)
            ),
            pulumi_command=self._command,
        )
        if not create:
            return OperatorStack.select(stack, workspace)
        # Try the likely case first: a workspace with settings has a stack; one without is new.
        if settings_file(work_dir, stack).exists():
            try:
                return OperatorStack.select(stack, workspace)
            except auto.StackNotFoundError:
                pass
        # A new stack adopts the salt in its settings file: this process's, whose key is known already.
        edit_settings(settings_file(work_dir, stack), self._passphrase, lambda _: None)
        try:
            created = OperatorStack.create(stack, workspace)
        except auto.StackAlreadyExistsError:
            return self._restored(OperatorStack.select(stack, workspace))
        if own_workspace:
            self._created.add(stack)
        return created

    @staticmethod
    def _restored(stack: OperatorStack) -> OperatorStack:
        """A stack the backend has, whose workspace had no settings file (a new disk, another operator replica):
        the configuration of its last update, encrypted passwords and salt included, comes back from the backend
        (`pulumi config refresh`), so the next operation starts from what was applied. A stack never updated has
        none to give: its settings are made anew (passwords.py adopts its passwords). On any other failure the
        settings file is removed again, so the next attempt restores it too."""
        path = settings_file(str(stack.workspace.work_dir), stack.name)
        try:
            stack.restore_settings()
        except auto.CommandError as error:
            if NO_DEPLOYMENT not in str(error):
                path.unlink(missing_ok=True)
                raise
            logger.info("stack %s: no update to restore its settings from", stack.name)
        else:
            logger.warning("stack %s: settings restored from the state backend's last update", stack.name)
        return stack

    def _selected_stack(self, stack: str) -> OperatorStack:
        if stack not in self._selected:
            self._selected[stack] = self._select(stack)
        return self._selected[stack]

    def stack_settings_file(self, stack: str) -> Path:
        return settings_file(self._workspace_dir(stack), stack)

    @staticmethod
    def _configured_spec(stack: OperatorStack) -> dict[str, Any]:
        """The spec in a stack's settings file: in the operator's workspace, the one last applied."""
        path = settings_file(str(stack.workspace.work_dir), stack.name)
        spec: dict[str, Any] = json.loads(configured_value(path, f"{CONFIG_NAMESPACE}:spec") or "{}")
        return spec

    def _configure(self, stack: OperatorStack, request: StackInput, new_stack: bool) -> None:
        """Write the spec and environment data to the stack's configuration; generate passwords only once,
        encrypted under the stack's salt. `new_stack`: just created, so it has no outputs to recover from."""
        path = settings_file(str(stack.workspace.work_dir), stack.name)
        plain = {
            "name": request.name,
            "namespace": request.namespace,
            "spec": json.dumps(request.spec, sort_keys=True),
            "engineProfile": json.dumps(request.engine_profile, sort_keys=True),
            "environmentProfile": json.dumps(request.environment_profile, sort_keys=True),
            "serviceMonitorAvailable": json.dumps(request.service_monitor_available),
            "operatorPeers": json.dumps(request.operator_peers.to_config(), sort_keys=True),
        }
        if request.restore is not None:
            plain["restore"] = json.dumps(request.restore, sort_keys=True)
        if request.uid is not None:
            plain["uid"] = request.uid

        def configure(document: dict[str, Any]) -> None:
            document["config"].update({f"{CONFIG_NAMESPACE}:{key}": value for key, value in plain.items()})
            if request.restore is None:  # loaded (backups.dump_to_load): the pods no longer mount it
                document["config"].pop(f"{CONFIG_NAMESPACE}:restore", None)
            self._passwords.fill_missing(document, stack, new_stack, request.live_passwords, request.data_volumes)
            adoptable = self._adoptable_tls(document, stack, new_stack, request.live_passwords)
            lifetime = timedelta(days=int(request.environment_profile.get("serverCertificateDays", 90)))
            tls = TlsRequest(request.name, request.namespace, lifetime, request.tls_renewal)
            reason = self._tls.fill(document, tls, adoptable, datetime.now(UTC))
            if reason is not None:
                logger.info("stack %s: new server certificate: %s", stack.name, reason)

        edit_settings(path, self._passphrase, configure)

    @staticmethod
    def _adoptable_tls(
        document: dict[str, Any], stack: OperatorStack, new_stack: bool, live: Mapping[str, str] | None
    ) -> dict[str, str]:
        """The TLS material a settings document lacks, from the live Secrets, else the stack's secret outputs
        (never a new CA while a copy of the old one exists anywhere)."""
        missing = [key for key in TLS_KEYS if f"{CONFIG_NAMESPACE}:{key}" not in document["config"]]
        if not missing:
            return {}
        if live is None:
            raise LivePasswordsUnread(
                f"the stack's settings no longer hold {', '.join(missing)}; retrying with the live Secrets read"
            )
        found = {key: live[key] for key in TLS_KEYS if live.get(key)}
        if new_stack or (CA_CERTIFICATE in found and CA_KEY in found):
            return found
        return {**recover_passwords(stack, TLS_KEYS), **found}

    def _guarded(self, name: str, kind: str, work: Callable[[Operation], R]) -> R:
        """Run one operation's `work` against its deadline, at which its Pulumi processes are ended. Whatever
        goes wrong is raised as a StackError."""
        timeout = self._settings.operation_timeout_seconds
        operation = Operation(f"{name}/{uuid.uuid4().hex[:12]}", self.processes, timeout, lambda: self.stopping)
        deadline = operation.deadline
        try:
            with deadline:
                return work(operation)
        except auto.CommandError as error:
            if self.stopping:
                raise StackOperationFailed(f"{kind} was ended by the operator's shutdown", transient=True) from error
            if deadline.expired:
                message = f"{kind} did not finish within {timeout:.0f}s and was ended"
                raise StackOperationFailed(message, transient=True) from error
            raise protection_refusal(error) or classify(error) from error
        except StackError:
            raise
        except Exception as error:  # e.g. an unreadable settings file: reported, retried, never unclassified
            raise StackOperationFailed(f"{kind}: {type(error).__name__}: {error}", transient=True) from error

    def _run(
        self,
        name: str,
        kind: str,
        operation: Callable[[OperatorStack], R],
        configure: Callable[[OperatorStack], None] = lambda _: None,
    ) -> R:
        """Select (or create) the stack, recover it if an operation was cut short, configure it, run one
        operation (a cut-short one leaves the in-flight marker for the next to recover)."""
        work_dir = self._workspace_dir(name)

        def work(current: Operation) -> R:
            stack = self._selected_stack(name)
            current.tag(stack)
            if interrupted(work_dir):
                self._with_lock(stack, recover)
                clear_in_flight(work_dir)
            configure(stack)
            mark_in_flight(work_dir)
            try:
                result = self._with_lock(stack, operation)
            except (auto.CommandError, StackError):
                if not current.cut_short:
                    clear_in_flight(work_dir)  # the CLI ended on its own and wrote the stack's state
                raise
            clear_in_flight(work_dir)
            return result

        result = self._guarded(name, kind, work)
        logger.info("stack %s: %s finished", name, kind)
        return result

    def _with_lock(self, stack: OperatorStack, operation: Callable[[OperatorStack], T]) -> T:
        """Run an operation; if another holds the stack's lock, take the lock over only from a dead holder."""
        try:
            return operation(stack)
        except auto.ConcurrentUpdateError as error:
            holders = lock_holders(error)
            stale_after = timedelta(seconds=self._settings.operation_timeout_seconds + 60)
            alive = [holder for holder in holders if holder_alive(holder, stale_after)]
            if not holders or alive:
                held_by = ", ".join(f"pid {h.pid} on {h.host} since {h.since:%H:%M:%S}" for h in alive) or "unknown"
                raise StackBusy(f"another operation holds the stack's lock ({held_by})") from error
            logger.warning("stack %s: releasing the lock of a dead operation (%s)", stack.name, holders)
            stack.cancel()
            return operation(stack)

    # -- operations -------------------------------------------------------------------------------------

    def up(self, request: StackInput, refresh: bool = False, forget: tuple[str, ...] = ()) -> OperationResult:
        """Configure the stack with `request` and create or update the Database's objects. With refresh, live
        objects are read first: a StatefulSet re-created around its pods (storage growth) is created again.
        The ConfigMaps named (by logical name) in `forget` are first dropped from the state, under the same lock:
        Pulumi then leaves the objects to the operator instead of deleting them (pod_files.legacy_pod_files)."""
        started = time.monotonic()

        def operation(stack: OperatorStack) -> StackEvents:
            _forget_config_maps(stack, forget)
            return stack.up_from_events(refresh=refresh)

        events = self._run(
            request.stack, "up", operation, lambda s: self._configure(s, request, s.name in self._created)
        )
        return _finished("up", started, events.changes, outputs=events.plain_outputs)

    def check_drift(
        self,
        stack_id: str,
        fallback: StackInput | None,
        correct: Callable[[Mapping[str, Any]], bool],
        forget: tuple[str, ...] = (),
    ) -> DriftCheck:
        """Compare the live objects with the configuration last applied (the workspace's own, never a newer
        spec that was not applied) by `preview --refresh`; if they differ and `correct(applied spec)`, re-apply
        that same configuration by `up --refresh`. Both in one operation, under the stack's lock: nothing can
        be applied in between. `fallback` configures a workspace that has no configuration (it was lost);
        `forget` as for `up`, before the correction (after an operator upgrade the new program is drift)."""
        started = time.monotonic()
        steps: list[ResourceStep] = []

        def check(stack: OperatorStack) -> DriftCheck:
            preview = self._preview(stack, True, steps)
            found = _finished("preview", started, preview.change_summary, steps=tuple(steps))
            if not found.changed or not correct(self._configured_spec(stack)):
                return DriftCheck(found)
            corrected = time.monotonic()
            _forget_config_maps(stack, forget)
            events = stack.up_from_events(refresh=True)
            return DriftCheck(found, _finished("up", corrected, events.changes, outputs=events.plain_outputs))

        def configure_if_lost(stack: OperatorStack) -> None:
            if fallback is not None and not self._configured_spec(stack):
                self._configure(stack, fallback, stack.name in self._created)

        return self._run(stack_id, "drift check", check, configure_if_lost)

    def preview_proposed(self, request: StackInput) -> OperationResult:
        """What `up` would do with this input against the live stack, changing nothing: the configuration goes
        to a scratch copy of the stack's workspace (the operator's own is never touched), and a preview
        neither locks nor writes the stack. A stack that does not exist yet is previewed in a scratch backend,
        where everything is a create."""
        started = time.monotonic()
        steps: list[ResourceStep] = []

        def work(current: Operation) -> auto.PreviewResult:
            with tempfile.TemporaryDirectory(prefix="dbop-preview-") as scratch:
                work_dir = Path(scratch) / "workspace"
                work_dir.mkdir()
                operator_settings = self.stack_settings_file(request.stack)
                if operator_settings.exists():
                    shutil.copy2(operator_settings, work_dir / operator_settings.name)
                stack = self._select_existing(request.stack, work_dir)
                exists = stack is not None
                if stack is None:
                    stack = self._select(request.stack, work_dir, backend_url=f"file://{scratch}/backend")
                current.tag(stack)
                self._configure(stack, request, new_stack=not exists)
                return self._preview(stack, exists, steps)

        result = self._guarded(request.stack, "preview", work)
        return _finished("preview", started, result.change_summary, steps=tuple(steps))

    def _select_existing(self, stack: str, work_dir: Path) -> OperatorStack | None:
        """The stack if the backend has it; None, and nothing created, if not."""
        root = directory(self._settings.effective_backend_url)
        if root is not None and not root.is_dir():
            return None  # no stack was ever created in this file backend
        try:
            return self._select(stack, work_dir, create=False)
        except auto.StackNotFoundError:
            return None

    @staticmethod
    def _preview(stack: OperatorStack, refresh: bool, steps: list[ResourceStep]) -> auto.PreviewResult:
        def record(event: auto.EngineEvent) -> None:
            step = resource_step(event)
            if step is not None:
                steps.append(step)

        return stack.preview(refresh=refresh, suppress_progress=True, suppress_outputs=True, on_event=record)

    def destroy(self, namespace: str, name: str) -> OperationResult:
        """Delete every object of the stack, then the stack and its workspace."""
        started = time.monotonic()
        stack_id = stack_name(namespace, name)
        result = self._run(
            stack_id,
            "destroy",
            lambda stack: stack.destroy_unprotected(),
        )
        shutil.rmtree(self._workspace_dir(stack_id), ignore_errors=True)
        self._selected.pop(stack_id, None)
        return _finished("destroy", started, result.summary.resource_changes)

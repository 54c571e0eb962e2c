"""The one module that touches `pulumi.automation`: stack naming, workspaces, operations and their errors.

Every Database is one stack of the `database` project. Its workspace directory keeps `Pulumi.<stack>.yaml`
(the configuration the program reads, with the generated passwords encrypted by the passphrase), so
`pulumi preview --config-file` on that file shows exactly what the operator would do.
All methods block: callers run them in a worker thread.
"""

import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2
from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode  # to construct OperatorStack like Stack.create does
from pulumi.runtime.proto import provider_pb2_grpc
from semver import VersionInfo

from database_api.profiles import DeletionPolicy
from database_operator.file_backend import FileBackend, directory
from database_operator.passphrase import Passphrase
from database_operator.plan import ResourceStep
from database_operator.settings import OperatorSettings
from database_program.program import CONFIG_NAMESPACE, declare_from_stack_config

logger = logging.getLogger(__name__)

PROJECT = "database"
STACK_NAME_LIMIT = 100
PASSWORD_KEYS = ("adminPassword", "userPassword", "replicationPassword")
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
"""The key that marks a secret value in the engine's serialized properties (and so in its event stream)."""
ROOT_TYPE = "pulumi:pulumi:Stack"
# Written before an operation starts and removed when it ends: finding it means the operator died mid-operation.
IN_FLIGHT_MARKER = ".operation-in-flight"
# Environment for every CLI call: never download a plugin or check for updates; and write the stack's state once,
# when an operation ends, not after every step (a tenth of an `up`'s CPU). An operation cut short then leaves
# the state as it was before it: the next `up` applies every object again, and server-side apply adopts those
# the cut-short one had made (see _recover_if_interrupted).
CLI_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_SKIP_CHECKPOINTS": "true",
}
# Go's garbage collector, for the CLI and the provider plugin (both Go, both short-lived): collecting at 5x the
# live heap instead of 2x saved a fifth of the provider's CPU and a tenth of the CLI's per `up`; the memory
# limit keeps each process's heap bounded all the same. Set either in the operator's environment to override.
GO_RUNTIME_DEFAULTS = {"GOGC": "400", "GOMEMLIMIT": "256MiB"}
# Error texts that mean "try again later" rather than "this spec cannot be deployed".
_TRANSIENT_MARKERS = (
    "connection refused",
    "i/o timeout",
    "timeout",
    "tls handshake",
    "the server is currently unable",
    "too many requests",
    "etcdserver",
    "unable to load kubernetes client configuration",
    "connection reset",
    "no such host",
)


def settings_file(work_dir: Path | str, stack: str) -> Path:
    """`Pulumi.<stack>.yaml` in a workspace: the stack's configuration, encrypted secrets and salt."""
    return Path(work_dir) / f"Pulumi.{stack}.yaml"


def stack_name(namespace: str, name: str) -> str:
    """`<namespace>.<name>`: namespaces cannot contain dots, so the first dot separates the two and distinct
    Databases never share a stack. Names over Pulumi's 100 characters keep a readable prefix plus a hash."""
    full = f"{namespace}.{name}"
    if len(full) <= STACK_NAME_LIMIT:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    return f"{full[: STACK_NAME_LIMIT - len(digest) - 1]}-{digest}"


class StackError(Exception):
    """A stack operation did not succeed."""

    transient = False


class StackBusy(StackError):
    """Another live operation holds the stack's lock."""

    transient = True


class StackOperationFailed(StackError):
    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ToolchainError(RuntimeError):
    """The Pulumi CLI or the Kubernetes provider plugin is missing or the wrong version."""


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
    live_passwords: Mapping[str, str] = field(default_factory=dict)
    """Passwords in the Database's existing credentials Secret (`adminPassword`, `userPassword`), if any: a stack
    without passwords of its own adopts them, so a database that already runs keeps its credentials."""

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


def resource_step(event: auto.EngineEvent) -> ResourceStep | None:
    """The step an engine event announces, if it announces one."""
    if event.resource_pre_event is None:
        return None
    metadata = event.resource_pre_event.metadata
    detailed = metadata.detailed_diff or {}
    return ResourceStep(
        op=str(metadata.op.value),
        urn=metadata.urn,
        type=metadata.type,
        fields=tuple(detailed) or tuple(metadata.diffs or ()),
        replacing_fields=tuple(key for key, diff in detailed.items() if diff.diff_kind.value.endswith("-replace")),
        retained=bool(metadata.old and metadata.old.retain_on_delete),
    )


def classify(error: auto.CommandError) -> StackError:
    """Map an Automation API error to what the operator should do about it."""
    if isinstance(error, auto.ConcurrentUpdateError):
        return StackBusy("another operation holds the stack's lock")
    text = str(error)
    lowered = text.lower()
    # The CLI's error lines carry the useful part; keep them, drop the progress output.
    lines = [line[line.lower().index("error:") :].strip() for line in text.splitlines() if "error:" in line.lower()]
    message = " ".join(lines)[:2000] if lines else text[-2000:]
    return StackOperationFailed(message, transient=any(marker in lowered for marker in _TRANSIENT_MARKERS))


class StackEvents:
    """What one operation's event stream says: its resource changes and the stack's outputs (secrets masked)."""

    def __init__(self) -> None:
        self.changes: Mapping[Any, int] | None = None
        self.outputs: dict[str, Any] = {}

    def record(self, event: auto.EngineEvent) -> None:
        if event.summary_event is not None:
            self.changes = dict(event.summary_event.resource_changes)
        finished = event.res_outputs_event
        if finished is not None and finished.metadata.type == ROOT_TYPE and finished.metadata.new is not None:
            self.outputs = dict(finished.metadata.new.outputs or {})

    @property
    def plain_outputs(self) -> dict[str, Any]:
        """The outputs without the secret ones (the stream shows those as an object with a masked ciphertext)."""
        return {key: value for key, value in self.outputs.items() if not _masked_secret(value)}


def _masked_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIGNATURE in value


class OperatorStack(auto.Stack):
    """A Stack whose `up` is summarised from its own event stream. The Automation API reads the outputs
    (`stack output`) and the summary (`stack history`) after every `up`: two more CLI runs per reconcile for
    what the event stream already carries."""

    _events: StackEvents | None = None

    @classmethod
    def create(cls, stack_name: str, workspace: auto.Workspace) -> "OperatorStack":
        return cls(stack_name, workspace, StackInitMode.CREATE)

    @classmethod
    def select(cls, stack_name: str, workspace: auto.Workspace) -> "OperatorStack":
        return cls(stack_name, workspace, StackInitMode.SELECT)

    def up_from_events(self, refresh: bool) -> StackEvents:
        events = StackEvents()
        self._events = events
        try:
            # show_secrets=False: nothing is decrypted for the summary (one key derivation less).
            self.up(
                refresh=refresh,
                show_secrets=False,
                on_event=events.record,
                suppress_progress=True,
                suppress_outputs=True,
            )
        finally:
            self._events = None
        if events.changes is None:
            raise StackOperationFailed("the operation's event stream ended without a summary", transient=True)
        return events

    def outputs(self) -> auto.OutputMap:
        return {} if self._events is not None else super().outputs()

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        if self._events is None:
            return super().info(show_secrets)
        # What `up` returns is not used: the events are.
        return auto.UpdateSummary(
            kind="update", start_time=datetime.now(UTC), message="", environment={}, config={}, result="succeeded"
        )


class OperatorWorkspace(auto.LocalWorkspace):
    """A LocalWorkspace that, in a file backend, selects and creates stacks on disk (file_backend.py) rather
    than with a CLI run each."""

    def __init__(self, backend: FileBackend | None, **options: Any) -> None:
        super().__init__(**options)
        self._backend = backend

    def select_stack(self, stack_name: str) -> None:
        if self._backend is None:
            super().select_stack(stack_name)
        elif not self._backend.has_stack(PROJECT, stack_name):
            raise auto.StackNotFoundError(_cli_like_result(f"no stack named '{stack_name}' found"))

    def create_stack(self, stack_name: str) -> None:
        if self._backend is None:
            super().create_stack(stack_name)
        elif not self._backend.create_stack(PROJECT, stack_name):
            raise auto.StackAlreadyExistsError(_cli_like_result(f"stack '{stack_name}' already exists"))


def _cli_like_result(error: str) -> auto.CommandResult:
    return auto.CommandResult(stdout="", stderr=f"error: {error}", code=255)


class Stacks:
    """Creates, updates, previews and destroys the stacks. One instance per operator process."""

    def __init__(self, settings: OperatorSettings, program: Callable[[], None] = declare_from_stack_config) -> None:
        self._settings = settings
        self._program = program
        self._command = check_toolchain()
        self._selected: dict[str, OperatorStack] = {}
        """Stacks already selected in the operator's workspaces: selecting costs a CLI run, once per stack
        (none in a file backend: OperatorWorkspace)."""
        self._created: set[str] = set()
        """Stacks this process created: they have no outputs to recover passwords from."""
        self._passphrase = Passphrase(settings.passphrase)

    # -- workspaces -------------------------------------------------------------------------------------

    def _workspace_dir(self, stack: str) -> Path:
        return self._settings.workspaces_dir / stack

    def _env(self) -> dict[str, str]:
        return {
            **{key: os.environ.get(key, default) for key, default in GO_RUNTIME_DEFAULTS.items()},
            **CLI_ENV,
            "PULUMI_BACKEND_URL": self._settings.effective_backend_url,
            "PULUMI_CONFIG_PASSPHRASE": self._settings.passphrase,
        }

    def _select(
        self, stack: str, work_dir: Path | None = None, backend_url: str | None = None, create: bool = True
    ) -> OperatorStack:
        """The stack in its workspace (by default the operator's own); with create=False a missing stack raises
        StackNotFoundError instead of being created."""
        work_dir = work_dir or self._workspace_dir(stack)
        backend_url = backend_url or self._settings.effective_backend_url
        work_dir.mkdir(parents=True, exist_ok=True)
        if create:
            FileBackend.prepare(backend_url)
        workspace = OperatorWorkspace(
            FileBackend.of(backend_url),
            work_dir=str(work_dir),
            program=self._program,
            env_vars={**self._env(), "PULUMI_BACKEND_URL": backend_url},
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
        self._edit_settings(settings_file(work_dir, stack), lambda _: None)
        try:
            created = OperatorStack.create(stack, workspace)
        except auto.StackAlreadyExistsError:
            return OperatorStack.select(stack, workspace)
        self._created.add(stack)
        return created

    def _selected_stack(self, stack: str) -> OperatorStack:
        if stack not in self._selected:
            self._selected[stack] = self._select(stack)
        return self._selected[stack]

    def stack_settings_file(self, stack: str) -> Path:
        return settings_file(self._workspace_dir(stack), stack)

    def _edit_settings(self, path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
        """Change a stack's settings file the way `pulumi config set` would, without running the CLI. A file
        without a salt gets this process's: the CLI takes it as the stack's."""
        document = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        if "encryptionsalt" not in document:  # not setdefault: the process's salt costs a key derivation
            document["encryptionsalt"] = self._passphrase.salt_state
        document["config"] = document.get("config") or {}
        edit(document)
        path.write_text(yaml.safe_dump(document, sort_keys=True))

    def _configure(self, stack: OperatorStack, request: StackInput) -> None:
        """Write the spec and environment data to the stack's configuration; generate passwords only once,
        encrypted under the stack's salt."""
        path = settings_file(str(stack.workspace.work_dir), stack.name)
        plain = {
            "name": request.name,
            "namespace": request.namespace,
            "spec": json.dumps(request.spec, sort_keys=True),
            "engineProfile": json.dumps(request.engine_profile, sort_keys=True),
            "environmentProfile": json.dumps(request.environment_profile, sort_keys=True),
            "serviceMonitorAvailable": json.dumps(request.service_monitor_available),
        }
        if request.restore is not None:
            plain["restore"] = json.dumps(request.restore, sort_keys=True)

        def configure(document: dict[str, Any]) -> None:
            config = document["config"]
            config.update({f"{CONFIG_NAMESPACE}:{key}": value for key, value in plain.items()})
            missing = [key for key in PASSWORD_KEYS if f"{CONFIG_NAMESPACE}:{key}" not in config]
            if not missing:
                return
            recovered = {} if stack.name in self._created else self._recover_passwords(stack)
            for key in missing:
                password = recovered.get(key) or request.live_passwords.get(key) or new_password()
                secure = self._passphrase.encrypt(document["encryptionsalt"], password)
                config[f"{CONFIG_NAMESPACE}:{key}"] = {"secure": secure}

        self._edit_settings(path, configure)

    @staticmethod
    def _recover_passwords(stack: OperatorStack) -> dict[str, str]:
        """A lost workspace (new volume, other backend host) must not mean new passwords for an existing
        database: the stack's secret outputs still hold them (and failing those, the live Secret does)."""
        try:
            outputs = stack.outputs()
        except auto.CommandError:
            return {}
        return {key: str(outputs[key].value) for key in PASSWORD_KEYS if key in outputs}

    # -- recovery ---------------------------------------------------------------------------------------

    def _recover_if_interrupted(self, stack: OperatorStack, name: str) -> None:
        """After a crash mid-operation: release the dead operation's lock and refresh the state from the live
        objects, which the dead operation may have changed (state is written only when an operation ends:
        CLI_ENV). Objects it created are adopted by the next `up` (server-side apply upserts), never duplicated."""
        marker = self._workspace_dir(name) / IN_FLIGHT_MARKER
        if not marker.exists():
            return
        logger.warning("stack %s: the previous operation was interrupted; recovering", name)
        try:
            stack.cancel()
        except auto.CommandError as error:
            logger.info("stack %s: no lock to release (%s)", name, str(error).strip()[:200])
        stack.refresh(clear_pending_creates=True, suppress_progress=True, suppress_outputs=True)
        marker.unlink()

    def _run(
        self,
        name: str,
        kind: str,
        operation: Callable[[OperatorStack], Any],
        request: StackInput | None,
        changes_of: Callable[[Any], Mapping[Any, int] | None],
        outputs_of: Callable[[Any], Mapping[str, Any]] = lambda _: {},
    ) -> OperationResult:
        """Select (or create) the stack, recover it if needed, configure it, run one operation, summarise it."""
        started = time.monotonic()
        stack = self._selected_stack(name)
        self._recover_if_interrupted(stack, name)
        if request is not None:
            self._configure(stack, request)
        marker = self._workspace_dir(name) / IN_FLIGHT_MARKER
        marker.touch()
        try:
            result = operation(stack)
        except auto.ConcurrentUpdateError:
            # This process runs one operation per stack at a time, so a held lock belongs to a dead process.
            logger.warning("stack %s: clearing a stale lock", name)
            stack.cancel()
            result = operation(stack)
        except auto.CommandError as error:
            marker.unlink(missing_ok=True)
            raise classify(error) from error
        marker.unlink(missing_ok=True)
        logger.info("stack %s: %s finished", name, kind)
        return _finished(kind, started, changes_of(result), outputs=outputs_of(result))

    # -- operations -------------------------------------------------------------------------------------

    def up(self, request: StackInput, refresh: bool = False) -> OperationResult:
        """Create or update the Database's objects. With refresh, live objects are read first, so
        out-of-band changes (drift) are corrected too."""
        return self._run(
            request.stack,
            "up",
            lambda stack: stack.up_from_events(refresh),
            request,
            changes_of=lambda events: events.changes,
            outputs_of=lambda events: events.plain_outputs,
        )

    def preview(self, request: StackInput, refresh: bool = False) -> OperationResult:
        """What `up` would change, without changing anything. With refresh, drift shows as changes."""
        steps: list[ResourceStep] = []
        result = self._run(
            request.stack,
            "preview",
            lambda stack: self._preview(stack, refresh, steps),
            request,
            changes_of=lambda result: result.change_summary,
        )
        return replace(result, steps=tuple(steps))

    def preview_proposed(self, request: StackInput) -> OperationResult:
        """What `up` would do with this input against the live stack, changing nothing: the configuration goes
        to a scratch copy of the stack's workspace, and a preview neither locks nor writes the stack. A stack
        that does not exist yet is previewed in a scratch backend, where everything is a create."""
        started = time.monotonic()
        steps: list[ResourceStep] = []
        with tempfile.TemporaryDirectory(prefix="dbop-preview-") as scratch:
            work_dir = Path(scratch) / "workspace"
            work_dir.mkdir()
            settings_file = self.stack_settings_file(request.stack)
            if settings_file.exists():
                shutil.copy2(settings_file, work_dir / settings_file.name)
            try:
                stack = self._select_existing(request.stack, work_dir)
                exists = stack is not None
                if stack is None:
                    stack = self._select(request.stack, work_dir, backend_url=f"file://{scratch}/backend")
                self._configure(stack, request)
                result = self._preview(stack, exists, steps)
            except auto.CommandError as error:
                raise classify(error) from error
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
        stack_id = stack_name(namespace, name)
        result = self._run(
            stack_id,
            "destroy",
            lambda stack: stack.destroy(remove=True, suppress_progress=True, suppress_outputs=True),
            None,
            changes_of=lambda result: result.summary.resource_changes,
        )
        shutil.rmtree(self._workspace_dir(stack_id), ignore_errors=True)
        self._selected.pop(stack_id, None)
        return result


def new_password() -> str:
    """32 URL-safe characters: no quoting trouble in shells, SQL or connection strings."""
    return secrets.token_urlsafe(24)


def check_toolchain() -> auto.PulumiCommand:
    """Fail fast, at start-up, when the CLI or the provider plugin is missing or not the pinned version."""
    expected_cli = package_version("pulumi")
    try:
        command = auto.PulumiCommand(version=VersionInfo.parse(expected_cli))
    except Exception as error:
        raise ToolchainError(
            f"the Pulumi CLI {expected_cli} is required on PATH (build it with toolchain/build.sh): {error}"
        ) from error
    if str(command.version) != expected_cli:
        raise ToolchainError(f"the Pulumi CLI on PATH is {command.version}; this operator needs {expected_cli}")
    provider = shutil.which("pulumi-resource-kubernetes")
    if provider is None:
        raise ToolchainError(
            "the Kubernetes provider plugin pulumi-resource-kubernetes is not on PATH "
            "(build it with toolchain/build.sh)"
        )
    expected_provider = package_version("pulumi-kubernetes")
    found = provider_version(provider)
    if found != expected_provider:
        raise ToolchainError(
            f"{provider} is version {found}; this operator's pulumi-kubernetes SDK needs {expected_provider}"
        )
    return command


def provider_version(path: str) -> str:
    """Ask a provider plugin its version the way the engine does: start it and call GetPluginInfo."""
    plugin = subprocess.Popen([path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert plugin.stdout is not None
        port = plugin.stdout.readline().strip()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = provider_pb2_grpc.ResourceProviderStub(channel).GetPluginInfo(empty_pb2.Empty(), timeout=30)
        return str(info.version)
    except (grpc.RpcError, ValueError) as error:
        raise ToolchainError(f"{path} did not answer as a Pulumi provider plugin: {error}") from error
    finally:
        plugin.kill()
        plugin.wait()

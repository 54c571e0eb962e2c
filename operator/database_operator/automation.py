"""The operator's Automation API classes: the only place that depends on how `pulumi.automation` works inside.

`OperatorStack` needs `StackInitMode`, which the Automation API does not export: `Stack.create` and
`Stack.select` construct a plain `Stack`, so a subclass has to call the constructor itself. Its `up` relies on
`Stack.up` reading the outputs and the summary through `outputs()` and `info()` after the CLI run
(tests/operator/test_automation.py pins both).
"""

import logging
import os
from datetime import UTC, datetime
from typing import Any

import grpc
import pulumi.log
from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode  # not exported; see the module docstring

from database_operator.engine_events import StackEvents
from database_operator.file_backend import FileBackend
from database_operator.stack_errors import StackOperationFailed
from database_operator.stack_names import PROJECT

logger = logging.getLogger(__name__)

# Environment for every CLI call: never download a plugin or check for updates; and write the stack's state once,
# when an operation ends, not after every step (a tenth of an `up`'s CPU). An operation cut short then leaves
# the state as it was before it: the next `up` applies every object again, and server-side apply adopts those
# the cut-short one had made (see recovery.py).
CLI_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_SKIP_CHECKPOINTS": "true",
}
# Go's garbage collector, for the CLI and the provider plugin (both Go, both short-lived): collecting at 5x the
# live heap instead of 2x saved a fifth of the provider's CPU and a tenth of the CLI's per `up`; the memory
# limit keeps each process's heap bounded all the same. Set either in the operator's environment to override.
GO_RUNTIME_DEFAULTS = {"GOGC": "400", "GOMEMLIMIT": "256MiB"}


class _EngineGone(logging.Filter):
    """The inline program's gRPC server logs, with three chained tracebacks, that it could not report to the
    engine once the engine has quit (any failed operation ends that way). The operation's own error says what
    went wrong; this keeps one line of it, at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.UNAVAILABLE:
            logging.getLogger(__name__).debug("the program server outlived the engine: %s", error.details())
            return False
        return True


_ENGINE_GONE = _EngineGone()


def quiet_program_server() -> None:
    """Install _EngineGone on the logger of the program's gRPC server (addFilter adds one instance once)."""
    logging.getLogger("grpc._server").addFilter(_ENGINE_GONE)


def cli_environment(backend_url: str, passphrase: str) -> dict[str, str]:
    """The environment of every Pulumi CLI run (and so of the plugins it starts)."""
    return {
        **{key: os.environ.get(key, default) for key, default in GO_RUNTIME_DEFAULTS.items()},
        **CLI_ENV,
        "PULUMI_BACKEND_URL": backend_url,
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
    }


def drop_sdk_debug_messages() -> None:
    """The Pulumi SDK sends its debug messages (several per resource: prepared, registered, outputs resolved)
    to the engine, a blocking gRPC call each, and the engine turns each into an event of the stream the operator
    reads and drops. Only `--debug` runs show them; the operator's never do. Not sending them saved a tenth of a
    new Database's CPU (the program's, the CLI's and the event reader's). Process-wide: every program this
    process runs is the operator's."""
    pulumi.log.debug = _not_sent


def _not_sent(msg: str, *args: Any, **kwargs: Any) -> None:
    return None


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

    def restore_settings(self) -> None:
        """Rewrite the stack's settings file with the configuration and salt of its last update, as the backend
        recorded them. `Stack.refresh_config` would also read every value back, decrypting the secrets."""
        self._run_pulumi_cmd_sync(["config", "refresh", "--force"])

    def forget(self, urn: str) -> None:
        """Drop one resource from the stack's state and leave the object itself alone (`pulumi state delete`).
        One the state does not hold (an earlier attempt dropped it already) is not an error."""
        try:
            self._run_pulumi_cmd_sync(["state", "delete", urn, "--yes"])
        except auto.CommandError as error:
            if "No such resource" not in str(error):
                raise

    def destroy_unprotected(self) -> auto.DestroyResult:
        """Lift `protect` from every resource (database_program.protection), then destroy the stack: only for a
        Database being deleted. The Automation API has no call for `pulumi state unprotect`."""
        try:
            self._run_pulumi_cmd_sync(["state", "unprotect", "--all", "--yes"])
        except auto.CommandError as error:
            # A stack that never deployed has nothing to unprotect (and the CLI may say so as an error); were
            # anything still protected, the destroy below fails naming it, and nothing is lost.
            logger.info("stack %s: nothing unprotected (%s)", self.name, str(error).strip()[:200])
        return self.destroy(remove=True, suppress_progress=True, suppress_outputs=True)


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

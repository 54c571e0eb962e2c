"""The start-up check that the Pulumi state backend can be used: reached, its bucket there, its credentials good.

A file backend is a local directory the operator makes itself. Any other backend (an S3 bucket above all) is
asked for its stacks once, with the CLI and the very environment of every later operation: a wrong endpoint,
a missing bucket or refused credentials stop the operator at start-up with the CLI's reason, naming the
setting, instead of failing every Database's first operation.
"""

import subprocess
import tempfile

from database_operator.file_backend import directory
from database_operator.settings import BACKEND_URL_VARIABLE, SettingsError

CHECK_TIMEOUT_SECONDS = 60.0
"""Long enough for the CLI's own retries of a refused connection (three, about 7 s), short enough to report
an endpoint that drops packets."""


class BackendUnusable(SettingsError):
    """The state backend cannot be reached or read: the operator refuses to start."""


def check_backend(pulumi: str, backend_url: str, environment: dict[str, str]) -> None:
    """List the backend's stacks with the Pulumi CLI at `pulumi`; raise BackendUnusable with its reason if it
    cannot. `environment` is the whole environment of the CLI (backend URL, passphrase, AWS_* credentials)."""
    if directory(backend_url) is not None:
        return
    with tempfile.TemporaryDirectory(prefix="dbop-backend-check-") as empty:  # no project around to pick up
        try:
            listed = subprocess.run(
                [pulumi, "stack", "ls", "--all", "--json", "--non-interactive"],
                cwd=empty,
                env=environment,
                capture_output=True,
                text=True,
                timeout=CHECK_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise BackendUnusable(
                f"{BACKEND_URL_VARIABLE}: {backend_url} did not answer within {CHECK_TIMEOUT_SECONDS:.0f}s"
            ) from error
    if listed.returncode != 0:
        reason = listed.stderr.strip().splitlines()[-1] if listed.stderr.strip() else f"exit {listed.returncode}"
        raise BackendUnusable(f"{BACKEND_URL_VARIABLE}: {backend_url} cannot be used: {reason}")

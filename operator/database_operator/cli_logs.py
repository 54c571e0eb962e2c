"""Keeps the Pulumi CLI's automatic debug logs off in the operator's own PULUMI_HOME.

Since mid-2026 (3.259 here) every CLI run writes the whole operation at the most verbose level, each resource's
inputs and outputs included, to `$PULUMI_HOME/logs` (about 2 MB per `up` of a Database, kept up to 7 days or
500 MB, on the operator's state volume). Writing it was a fifth of an `up`'s CPU, and the operator never reads it:
its own log and the Database's Events say what happened. The CLI has no setting for it, but it carries on without
the log when it cannot make that directory, so a file of that name switches it off (tests/operator/test_cli_logs.py
holds the CLI to that).
"""

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

HOME_VARIABLE = "PULUMI_HOME"
SWITCH_TEXT = (
    "The database operator keeps the Pulumi CLI's automatic debug logs off: the CLI writes none while this file\n"
    "stands where it would make its logs directory. Remove this file to have them again.\n"
)


def switch_off_cli_logs(environ: Mapping[str, str]) -> Path | None:
    """Put the switch file in place of `$PULUMI_HOME/logs`, replacing a directory that holds only the CLI's
    own logs; return its path, or None when it is left alone. Without PULUMI_HOME the CLI's home is a person's
    `~/.pulumi`, whose logs are theirs: left alone (deploy/ and the scripts give the operator a home of its
    own)."""
    home = environ.get(HOME_VARIABLE)
    if not home:
        return None
    logs = Path(home) / "logs"
    try:
        if logs.is_dir() and not logs.is_symlink():
            foreign = [entry.name for entry in logs.iterdir() if not (entry.is_file() and entry.name.endswith(".log"))]
            if foreign:
                logger.warning(
                    "the Pulumi CLI's automatic debug logs stay on: %s holds more than its logs (%s)",
                    logs,
                    ", ".join(sorted(foreign)[:3]),
                )
                return None
            shutil.rmtree(logs)
        if logs.is_dir():  # a link to a directory, or one a CLI run made meanwhile
            return None
        if not logs.exists():
            logs.parent.mkdir(parents=True, exist_ok=True)
            logs.write_text(SWITCH_TEXT)
    except OSError as error:
        # Debug logs are never worth a failed start (a CLI run of another process may be writing one right now).
        logger.warning("the Pulumi CLI's automatic debug logs stay on: %s: %s", logs, error)
        return None
    return logs

"""A stack's settings file, `Pulumi.<stack>.yaml`: its configuration, encrypted secrets and salt.

The operator edits it the way `pulumi config set` would, without running the CLI, and replaces it atomically:
it holds the encrypted passwords, so a torn write must never be possible.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from database_operator.atomic_file import write_atomically
from database_operator.passphrase import Passphrase


def settings_file(work_dir: Path | str, stack: str) -> Path:
    """`Pulumi.<stack>.yaml` in a workspace."""
    return Path(work_dir) / f"Pulumi.{stack}.yaml"


def configured_value(path: Path, key: str) -> str | None:
    """One plain configuration value (`<namespace>:<key>`) of a settings file; None if it has none."""
    document = yaml.safe_load(path.read_text()) if path.exists() else None
    value = ((document or {}).get("config") or {}).get(key)
    return value if isinstance(value, str) else None


def configured_keys(path: Path) -> set[str]:
    """Every configuration key of a settings file, plain or secret; none if there is no file."""
    document = yaml.safe_load(path.read_text()) if path.exists() else None
    return set(((document or {}).get("config") or {}).keys())


def edit_settings(path: Path, passphrase: Passphrase, edit: Callable[[dict[str, Any]], None]) -> None:
    """Read the file (or start an empty one), let `edit` change its document, write it back. A file without a
    salt gets this process's: the CLI takes it as the stack's."""
    document = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    if "encryptionsalt" not in document:  # not setdefault: the process's salt costs a key derivation
        document["encryptionsalt"] = passphrase.salt_state
    document["config"] = document.get("config") or {}
    edit(document)
    write_atomically(path, yaml.safe_dump(document, sort_keys=True))

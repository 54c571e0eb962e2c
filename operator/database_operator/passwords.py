"""The stack's generated passwords: made once per database's data, kept encrypted in its settings file, adopted
whenever the settings file lacks them.

A lost workspace (new volume, other backend host), a re-created stack, or a Database re-created over retained
volumes must never mean new passwords for data that exists: the servers have the old ones. A password the
settings file lacks is taken from the live Secret, else from the stack's secret outputs; only when neither has
it and no data volume exists is a new one made.
"""

import secrets
from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from database_api.names import (
    CONFIG_NAMESPACE,
    PASSWORD_KEYS,
    backup_secret_name,
    credentials_secret_name,
    exporter_secret_name,
    replication_secret_name,
)
from database_operator.passphrase import Passphrase
from database_operator.stack_errors import StackError, classify

SECRET_OF_PASSWORD = {
    "adminPassword": (credentials_secret_name, "admin-password"),
    "userPassword": (credentials_secret_name, "password"),
    "replicationPassword": (replication_secret_name, "password"),
    "exporterPassword": (exporter_secret_name, "password"),
    "backupPassword": (backup_secret_name, "password"),
}
"""Where each password lives in the cluster: (Secret name of a Database, key)."""

SET_ON_EVERY_START = frozenset({"exporterPassword", "backupPassword"})
"""Passwords the primary's bootstrap sets on every start (ensure_accounts in bootstrap-<engine>.sh): a new one is
safe next to existing data, which is how Databases made before these accounts existed get them."""


class LivePasswordsUnread(StackError):
    """The settings lost a password after the operation found them complete and skipped reading the live Secrets:
    the next attempt reads them (never a new password for a database whose Secret exists)."""

    transient = True


class CredentialsMissing(StackError):
    """The data volumes exist but a password is nowhere: not in the settings, the Secrets or the stack's outputs."""

    reason = "CredentialsMissing"


def new_password() -> str:
    """32 URL-safe characters: no quoting trouble in shells, SQL or connection strings."""
    return secrets.token_urlsafe(24)


def config_key(key: str) -> str:
    """A password's key in the stack configuration."""
    return f"{CONFIG_NAMESPACE}:{key}"


def recover_passwords(stack: auto.Stack, keys: tuple[str, ...] = PASSWORD_KEYS) -> dict[str, str]:
    """The passwords (or other `keys`) an existing stack's secret outputs hold; none when it has no outputs (yet).
    A failure to read them is an error, never "no passwords"."""
    try:
        outputs = stack.outputs()
    except auto.CommandError as error:
        raise classify(error) from error
    return {key: str(outputs[key].value) for key in keys if key in outputs}


class PasswordStore:
    """Puts the passwords into a settings document, encrypted under the document's salt."""

    def __init__(self, passphrase: Passphrase) -> None:
        self._passphrase = passphrase

    def fill_missing(
        self,
        document: dict[str, Any],
        stack: auto.Stack,
        new_stack: bool,
        live_passwords: Mapping[str, str] | None,
        data_volumes: tuple[str, ...] = (),
    ) -> None:
        """Give every password the document lacks a value: the live Secret's, else the stack's own (from its
        secret outputs, unless this process just created the stack), else a new one, but only while no data
        volume exists (`data_volumes`) or the password is one the bootstrap sets on every start: else
        CredentialsMissing names the Secret. Passwords present are kept. `live_passwords` None: the Secrets were
        not read, as the settings had every password; one missing now is LivePasswordsUnread."""
        config = document["config"]
        missing = [key for key in PASSWORD_KEYS if config_key(key) not in config]
        if not missing:
            return
        if live_passwords is None:
            raise LivePasswordsUnread(
                f"the stack's settings no longer hold {', '.join(missing)}; retrying with the live Secrets read"
            )
        recovered = {} if new_stack or all(key in live_passwords for key in missing) else recover_passwords(stack)
        database = str(config.get(config_key("name")) or stack.name)
        for key in missing:
            password = live_passwords.get(key) or recovered.get(key)
            if password is None and data_volumes and key not in SET_ON_EVERY_START:
                secret_name, secret_key = SECRET_OF_PASSWORD[key]
                raise CredentialsMissing(
                    f"Secret {secret_name(database)} (key {secret_key}) is gone and no copy of its password is left, "
                    f"but the data volumes {', '.join(data_volumes)} exist: new passwords would lock the database "
                    "out of its own data. Restore the Secret, or delete the volumes to start with empty data"
                )
            config[config_key(key)] = {
                "secure": self._passphrase.encrypt(document["encryptionsalt"], password or new_password())
            }

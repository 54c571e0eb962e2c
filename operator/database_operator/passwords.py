"""The stack's generated passwords: made once, kept encrypted in its settings file, recovered when it is lost.

A lost workspace (new volume, other backend host) must not mean new passwords for an existing database.
"""

import secrets
from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from database_api.names import CONFIG_NAMESPACE, PASSWORD_KEYS
from database_operator.passphrase import Passphrase


def new_password() -> str:
    """32 URL-safe characters: no quoting trouble in shells, SQL or connection strings."""
    return secrets.token_urlsafe(24)


def config_key(key: str) -> str:
    """A password's key in the stack configuration."""
    return f"{CONFIG_NAMESPACE}:{key}"


def recover_passwords(stack: auto.Stack) -> dict[str, str]:
    """The passwords an existing stack's secret outputs hold; none when it has no outputs (yet)."""
    try:
        outputs = stack.outputs()
    except auto.CommandError:
        return {}
    return {key: str(outputs[key].value) for key in PASSWORD_KEYS if key in outputs}


class PasswordStore:
    """Puts the passwords into a settings document, encrypted under the document's salt."""

    def __init__(self, passphrase: Passphrase) -> None:
        self._passphrase = passphrase

    def fill_missing(
        self, document: dict[str, Any], stack: auto.Stack, new_stack: bool, live_passwords: Mapping[str, str]
    ) -> None:
        """Give every password the document lacks a value: the stack's own (from its secret outputs, unless this
        process just created it), else the live Secret's, else a new one. Passwords present are kept."""
        config = document["config"]
        missing = [key for key in PASSWORD_KEYS if config_key(key) not in config]
        if not missing:
            return
        recovered = {} if new_stack else recover_passwords(stack)
        for key in missing:
            password = recovered.get(key) or live_passwords.get(key) or new_password()
            config[config_key(key)] = {"secure": self._passphrase.encrypt(document["encryptionsalt"], password)}

"""When a Database's server certificate is renewed: on the renewal annotation (any new value), and by the
per-Database watch once the certificate is two thirds into its life. Renewing is an ordinary `up` with the same
spec (apply.apply_again): the stack driver issues the certificate (server_tls.py), the Secret changes, the pods'
Secret volume follows and their tls-reload container makes the server read it, without a restart."""

import datetime
from pathlib import Path

from database_api.names import CONFIG_NAMESPACE
from database_operator.server_tls import RENEW_AFTER
from database_operator.settings_file import configured_value


def renewal_due(settings: Path, now: datetime.datetime) -> bool:
    """The applied server certificate is two thirds into its life (False when the stack has none yet)."""
    renew_after = configured_value(settings, f"{CONFIG_NAMESPACE}:{RENEW_AFTER}")
    return renew_after is not None and now >= datetime.datetime.fromisoformat(renew_after)

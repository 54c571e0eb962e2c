"""Which Database names can work: every object, label and stack a Database derives from its name must be valid.

The same rules are in the CRD's schema of `metadata.name` (so the API server refuses a bad name even with the
operator down) and in the admission webhook.
"""

import re
from typing import Any

NAME_LIMIT = 45
"""The backup CronJob `<name>-backup` may have at most 52 characters (its Jobs add an 11-character suffix and
must fit a 63-character label); the StatefulSet `<name>` at most 52 (its pods' `controller-revision-hash` label
adds 11) and the Services `<name>-headless` at most 63. 45 keeps every derived name valid."""
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""A DNS-1035 label: what Service names must be. No dots, no leading digit, no upper case."""
_NAME = re.compile(NAME_PATTERN)
NAME_SHAPE = "lower-case letters, digits and '-', starting with a letter and ending with a letter or digit"


def name_violations(name: str) -> list[str]:
    """Why a Database cannot have this name, naming `metadata.name`; empty when it can."""
    errors: list[str] = []
    if len(name) > NAME_LIMIT:
        errors.append(
            f"metadata.name: at most {NAME_LIMIT} characters (got {len(name)}): the names of the Database's "
            "Services, StatefulSet and backup CronJob are derived from it and must stay valid"
        )
    if not _NAME.match(name):
        errors.append(f"metadata.name: {name!r} must consist of {NAME_SHAPE} (it names the Database's Services)")
    return errors


def name_schema() -> dict[str, Any]:
    """The same rules in the CRD's schema of `metadata` (which may restrict `name`): the API server refuses such a
    name, naming `metadata.name`, even with the operator down. A Database stored under older rules stays
    updatable and deletable (removing a finalizer is an update): the API server ratchets unchanged values."""
    return {
        "type": "object",
        "properties": {
            "name": {
                "type": "string",
                "maxLength": NAME_LIMIT,
                "pattern": NAME_PATTERN,
                "description": f"At most {NAME_LIMIT} characters, {NAME_SHAPE}: the names of the Database's "
                "Services, StatefulSet and backup CronJob are derived from it.",
            }
        },
    }

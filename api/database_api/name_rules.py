"""Which Database names can work: every object, label and stack a Database derives from its name must be valid.

The same rules are CEL rules on `metadata.name` in the CRD (so the API server refuses a bad name even with the
operator down) and checks the admission webhook and the operator run.
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


def name_rules() -> list[dict[str, Any]]:
    """The same rules as CEL, for the root of the CRD's schema (where `self.metadata.name` is visible). They
    judge a Database when it is created (`optionalOldSelf`: on an update oldSelf has a value and the rule
    holds), so one stored under older rules stays updatable, and deletable: removing a finalizer is an update."""
    return [
        {
            "rule": f"oldSelf.hasValue() || self.metadata.name.size() <= {NAME_LIMIT}",
            "optionalOldSelf": True,
            "message": f"metadata.name: at most {NAME_LIMIT} characters: the names of the Database's Services, "
            "StatefulSet and backup CronJob are derived from it and must stay valid",
        },
        {
            "rule": f"oldSelf.hasValue() || self.metadata.name.matches('{NAME_PATTERN}')",
            "optionalOldSelf": True,
            "message": f"metadata.name: must consist of {NAME_SHAPE} (it names the Database's Services)",
        },
    ]

"""The driver's guard: a step that would delete or replace an object holding data or credentials is refused.

The program declares the StatefulSet (its data volumes go with it) and the credentials and replication Secrets
`protect`ed (database_program.protection), so the engine itself refuses any such step, in `up`, drift
correction and crash recovery alike, before anything changes. Only the destroy of a deleted Database lifts the
protection. This module turns the engine's refusal into words a user can act on.
"""

import re

from pulumi import automation as auto

from database_operator.stack_errors import StackError

_PROTECTED_URN = re.compile(r'"?(urn:pulumi:[^"\s]+)"?')
_WHAT_IT_HOLDS = {
    "StatefulSet": "its data volumes go with it",
    "Secret": "it holds the passwords the data was initialised with",
    "PersistentVolumeClaim": "it holds data",
}


class ProtectionRefused(StackError):
    """A planned step would delete or replace a protected object; nothing was changed."""

    reason = "DataProtection"


def protection_refusal(error: auto.CommandError) -> ProtectionRefused | None:
    """The refusal the engine reported, naming the object, or None when the error is something else."""
    text = str(error)
    if "protect" not in text.lower():
        return None
    objects = []
    for urn in dict.fromkeys(_PROTECTED_URN.findall(text)):
        kind, name = urn.split("::")[-2].rsplit(":", 1)[-1], urn.rsplit("::", 1)[-1]
        objects.append(f"{kind} {name} ({_WHAT_IT_HOLDS.get(kind, 'it is protected')})")
    if not objects:
        return None
    return ProtectionRefused(
        f"refused: the change would delete or replace {', '.join(objects)}; the operator does that only when the "
        "Database is deleted under deletionPolicy Delete. Nothing was changed: revert the field that forces the "
        "replacement (`database-operator preview` shows which)"
    )

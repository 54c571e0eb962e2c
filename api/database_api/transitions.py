"""Update rules as CEL transition rules (`oldSelf`), so the API server refuses a change that cannot work even
while the operator is down. `spec.update_violations` says the same in Python, with the same words.

Versions compare by their first three numbers, missing ones counting as 0 (`16` == `16.0`, `8.4.3` > `8.4`).
"""

from typing import Any

_NUMBERS = r"'^[0-9]+(\\.[0-9]+){0,2}'"
"""The numeric prefix of a version tag: `16.4-bookworm` -> `16.4`."""

POSTGRESQL_MAJOR_CHANGE = (
    "a PostgreSQL major version change is refused: the server cannot start on the data directory of another "
    "major version. To move to a new major version, restore a backup into a new Database of that version "
    "(spec.restore)"
)


def _part(version: str, index: int) -> str:
    """CEL: the index-th number of a version expression, 0 when it has fewer (padded with `.0.0`)."""
    return f"int(({version}.find({_NUMBERS}) + '.0.0').split('.')[{index}])"


def _not_lower(new: str, old: str) -> str:
    """CEL: version `new` is the same as or newer than `old`."""
    major, minor, patch = ((_part(new, i), _part(old, i)) for i in range(3))
    return (
        f"{major[0]} > {major[1]} || ({major[0]} == {major[1]} && "
        f"({minor[0]} > {minor[1]} || ({minor[0]} == {minor[1]} && {patch[0]} >= {patch[1]})))"
    )


def transition_rules() -> list[dict[str, Any]]:
    """Rules on the spec object that compare it with the stored one."""
    return [
        {
            "rule": _not_lower("self.version", "oldSelf.version"),
            "messageExpression": "'downgrades are refused (from ' + oldSelf.version + ' to ' + self.version + ')'",
            "fieldPath": ".version",
            "reason": "FieldValueForbidden",
        },
        {
            "rule": f"self.type != 'postgresql' || {_part('self.version', 0)} == {_part('oldSelf.version', 0)}",
            "message": POSTGRESQL_MAJOR_CHANGE,
            "fieldPath": ".version",
            "reason": "FieldValueForbidden",
        },
        {
            # `class` itself is immutable (a rule on the field), but such a rule does not run when the field is
            # added or removed.
            "rule": "has(self.storage.class) == has(oldSelf.storage.class)",
            "message": "spec.storage.class cannot change",
            "fieldPath": ".storage",
            "reason": "FieldValueForbidden",
        },
    ]

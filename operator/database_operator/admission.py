"""Admission: the defaults every stored Database gets, and the rules that refuse a bad one.

Pure functions over the shared pydantic model; `handlers.py` serves them as kopf's mutating and validating
webhooks. Both are free of side effects, so `kubectl apply --dry-run=server` is answered like any request.
"""

from collections.abc import Mapping
from typing import Any

from database_api.profiles import StacksConfig
from database_api.spec import (
    SpecError,
    checked_spec,
    follow_environment,
    parse_spec,
    update_violations,
    with_defaults,
)


def defaulted_spec(
    raw: Mapping[str, Any], config: StacksConfig, old: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The spec with every environment default made explicit; None when it is too broken to default
    (validation then says why). Idempotent, and what the user set is never overwritten. On an environment
    change, values that were the old environment's defaults become the new environment's."""
    try:
        spec = parse_spec(dict(raw))
        if old:
            spec = follow_environment(spec, parse_spec(dict(old)), config)
    except SpecError:
        return None
    return with_defaults(spec, config).model_dump(by_alias=True, exclude_none=True, mode="json")


def admission_errors(raw: Mapping[str, Any], old: Mapping[str, Any] | None, config: StacksConfig) -> list[str]:
    """Every reason to refuse this spec, each naming its field; an update is also checked against the old spec.
    An update that leaves the spec alone (finalizers, labels, annotations) is never refused: a Database stored
    under older rules must stay deletable and labelable."""
    if old is not None and dict(old) == dict(raw):
        return []
    try:
        new_spec = checked_spec(dict(raw), config)
    except SpecError as error:
        return error.errors
    if not old:
        return []
    try:
        old_spec = parse_spec(dict(old))
    except SpecError:
        return []  # an old object that no longer parses must still be fixable
    return update_violations(old_spec, new_spec)

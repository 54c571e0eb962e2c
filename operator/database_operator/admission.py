"""Admission: the defaults every stored Database gets, and the rules that refuse a bad one.

Pure functions over the shared pydantic model; `handlers.py` serves them as kopf's mutating and validating
webhooks. Both are free of side effects, so `kubectl apply --dry-run=server` is answered like any request.
"""

import copy
from collections.abc import Mapping
from typing import Any

from database_api.profiles import StacksConfig
from database_api.spec import (
    DatabaseSpec,
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
    """The spec as the user wrote it, with every environment default it lacks added; None when it is too
    broken to default (validation then says why). Only adds: a value the user wrote is never converted or
    replaced (a wrong type, e.g. `replicas: "3"`, reaches the schema and is refused there). On an environment
    change, the values that were the old environment's defaults (unchanged by this update) are replaced by the
    new environment's. Idempotent."""
    try:
        spec = parse_spec(dict(raw))
        followed = follow_environment(spec, parse_spec(dict(old)), config) if old else spec
    except SpecError:
        return None
    result = copy.deepcopy(dict(raw))
    _remove_missing(result, _dump(spec), _dump(followed))
    _add_missing(result, _dump(with_defaults(followed, config)))
    return result


def _dump(spec: DatabaseSpec) -> dict[str, Any]:
    return spec.model_dump(by_alias=True, exclude_none=True, mode="json")


def _remove_missing(target: dict[str, Any], before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Remove from target what `after` no longer has of `before` (the old environment's defaults)."""
    for key, value in before.items():
        if key not in after:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _remove_missing(target[key], value, after[key])


def _add_missing(target: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    """Add the defaults target lacks, recursively; never touch a value it has."""
    for key, value in defaults.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(value, Mapping) and isinstance(target[key], dict):
            _add_missing(target[key], value)


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

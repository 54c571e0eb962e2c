"""Admission checks that need the cluster, besides the pure rules of admission.py: a new Database's name must be
able to work and must not collide with another Database's derived names, and a size increase must be one the
StorageClass can make. Read-only, so dry runs are served like any request."""

from collections.abc import Mapping
from typing import Any

from database_api.name_rules import name_violations
from database_operator.kube import Kube
from database_operator.ownership import name_collisions
from database_operator.storage import admission_refusals


async def safety_errors(
    kube: Kube, namespace: str, name: str, spec: Mapping[str, Any], old: Mapping[str, Any] | None
) -> list[str]:
    """Every reason to refuse, each naming its field. Names are checked on creation only: a Database stored
    under older rules must stay updatable and deletable."""
    if old is None:
        errors = name_violations(name)
        return errors or name_collisions(name, await kube.list_database_names(namespace))
    if dict(old) == dict(spec):
        return []
    return await admission_refusals(kube, namespace, name, old, spec)

"""Ownership: a Database's stack adopts only objects that are already the Database's, and no two Databases in a
namespace derive the same object name.

Every object the program declares carries `pulumi.com/patchForce` (server-side apply takes fields back from
other writers, which is how drift is corrected and how objects of an interrupted operation are adopted). So an
object that merely has the right name would be taken over, and destroyed with the Database: the operator
checks, before any `up`, that each existing object of a declared name is the Database's own.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from database_api.names import backup_name, object_names
from database_operator.stacks import StackInput

MANAGED_BY = ("app.kubernetes.io/managed-by", "database-operator")
INSTANCE_LABEL = "app.kubernetes.io/instance"
# kind -> (apiVersion, plural), to read any declared object's metadata.
KINDS: dict[str, tuple[str, str]] = {
    "Secret": ("v1", "secrets"),
    "ConfigMap": ("v1", "configmaps"),
    "Service": ("v1", "services"),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "CronJob": ("batch/v1", "cronjobs"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "ServiceMonitor": ("monitoring.coreos.com/v1", "servicemonitors"),
}

ReadMetadata = Callable[[str, str, str, str], Awaitable[dict[str, Any] | None]]
"""(apiVersion, plural, namespace, name) -> the object's metadata, or None."""


def name_collisions(name: str, others: list[str]) -> list[str]:
    """Why a Database cannot be called `name` next to the Databases `others`: a derived object name in common."""
    mine = object_names(name)
    errors: list[str] = []
    for other in sorted(set(others) - {name}):
        theirs = object_names(other)
        shared = sorted(f"{kind} {shared}" for kind, names in mine.items() for shared in names & theirs[kind])
        if shared:
            errors.append(
                f"metadata.name: a Database {name!r} would have the same {', '.join(shared)} as the Database "
                f"{other!r} in this namespace; choose another name"
            )
    return errors


def is_own(metadata: Mapping[str, Any], database: str, uid: str | None) -> bool:
    """An object is the Database's when it names the Database (this one, by uid) as its owner, or when it carries
    the operator's labels for this Database and no other owner: what a Database of this name left behind under
    deletionPolicy Retain (its Secrets, backup volume), or what an operation cut short by a crash created."""
    owners = metadata.get("ownerReferences") or []
    if uid is not None and any(owner.get("uid") == uid for owner in owners):
        return True
    labels = metadata.get("labels") or {}
    labelled = labels.get(MANAGED_BY[0]) == MANAGED_BY[1] and labels.get(INSTANCE_LABEL) == database
    return labelled and all(owner.get("kind") == "Database" and owner.get("name") == database for owner in owners)


def declared_objects(request: StackInput) -> list[tuple[str, str]]:
    """(kind, name) of every object the program declares for this request."""
    names = object_names(request.name)
    spec, environment = request.spec, request.environment_profile
    skipped = set()
    if not (spec.get("backup") or {}).get("enabled"):
        skipped |= {(kind, backup_name(request.name)) for kind in ("ConfigMap", "CronJob", "PersistentVolumeClaim")}
    if not environment.get("highAvailability"):
        skipped.add(("PodDisruptionBudget", request.name))
    monitoring = spec.get("monitoring") or {}
    if not (request.service_monitor_available and monitoring.get("enabled") and monitoring.get("metrics")):
        skipped.add(("ServiceMonitor", request.name))
    declared = {(kind, name) for kind, kind_names in names.items() for name in kind_names}
    return sorted(declared - skipped)


def _owner_of(metadata: Mapping[str, Any]) -> str:
    owners = metadata.get("ownerReferences") or []
    if owners:
        return ", ".join(f"{owner.get('kind')} {owner.get('name')}" for owner in owners)
    instance = (metadata.get("labels") or {}).get(INSTANCE_LABEL)
    return f"Database {instance}" if instance else "nobody this operator knows"


async def foreign_objects(request: StackInput, uid: str | None, read_metadata: ReadMetadata) -> list[str]:
    """One message per existing object with a declared name that is not the Database's own."""
    declared = declared_objects(request)
    found = await asyncio.gather(
        *(read_metadata(*KINDS[kind], request.namespace, name) for kind, name in declared)  # at once: one round trip
    )
    messages: list[str] = []
    for (kind, name), metadata in zip(declared, found, strict=True):
        if metadata is not None and not is_own(metadata, request.name, uid):
            messages.append(
                f"{kind} {name} exists and is not this Database's (it belongs to {_owner_of(metadata)}): "
                "not adopted; delete or rename it, or give the Database another name"
            )
    return messages

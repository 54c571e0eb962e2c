"""Storage growth that keeps the data and the pods (MOCO's way).

A StatefulSet's volume claim templates cannot change, and the stack never replaces the StatefulSet or a volume
for a size change (database_program.protection). So a bigger `spec.storage.size` is made here, before `up`:
each data volume claim grows in place, then the StatefulSet is deleted with propagation Orphan (its pods keep
running) and `up --refresh` re-creates it with the new template; the new StatefulSet adopts the running pods,
whose template did not change, so none restarts. A bigger `spec.backup.storageSize` grows the backup volume in
place. A class that does not allow expansion is refused up front: by admission, and here again before anything
changes.

Every step can run twice: a claim already grown is left alone, and a StatefulSet found missing while data volumes
exist (re-creation cut short by a crash, or deleted by someone) makes `up` refresh, which re-creates it.
"""

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from database_api.names import backup_name
from database_api.quantity import parse_quantity
from database_operator.kube import Kube

INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
STATEFULSET_GONE_SECONDS = 60
"""How long an orphaning deletion of the StatefulSet may take (the garbage collector releases its pods first)."""


class StorageRefused(Exception):
    """A size change that cannot be made; the message names the field and the StorageClass."""


class StorageWaiting(Exception):
    """A size change that cannot be made yet (a claim not bound, a StatefulSet still being deleted)."""


def data_volume_prefix(name: str) -> str:
    """Data volume claims are `data-<name>-<ordinal>` (the StatefulSet's volume claim template is `data`)."""
    return f"data-{name}-"


async def data_volumes(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    """The Database's data volume claims, of every ordinal ever created (scaled-down ones stay)."""
    claims = await kube.list_volume_claims(namespace, f"{INSTANCE_LABEL}={name},{COMPONENT_LABEL}=database")
    return [claim for claim in claims if claim["metadata"]["name"].startswith(data_volume_prefix(name))]


def requested_size(claim_or_template: Mapping[str, Any]) -> str:
    return str(claim_or_template["spec"]["resources"]["requests"]["storage"])


def grows(old: str | None, new: str | None) -> bool:
    """Whether a size goes from `old` to a bigger `new` (either unset: no)."""
    return bool(old and new) and parse_quantity(str(new)) > parse_quantity(str(old))


def data_growth(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, str] | None:
    """(old size, new size) when spec.storage.size grows from spec `old` to spec `new`; None otherwise."""
    old_size, new_size = (old.get("storage") or {}).get("size"), (new.get("storage") or {}).get("size")
    return (str(old_size), str(new_size)) if grows(old_size, new_size) else None


async def expansion_refusal(kube: Kube, class_name: str | None, field: str, old: str, new: str) -> str | None:
    """Why volumes of this class cannot grow from `old` to `new` (None: they can). No class means the default."""
    storage_class = await kube.storage_class(class_name)
    described = f"StorageClass {class_name}" if class_name else "the cluster has no default StorageClass"
    if storage_class is None:
        return f"{field}: cannot grow from {old} to {new}: {described} does not exist" if class_name else None
    if not storage_class.get("allowVolumeExpansion"):
        return (
            f"{field}: cannot grow from {old} to {new}: StorageClass {storage_class['metadata']['name']} does not "
            "allow volume expansion (allowVolumeExpansion is not true); the volumes keep their size"
        )
    return None


async def _grow_claims(kube: Kube, namespace: str, claims: Sequence[Mapping[str, Any]], field: str, size: str) -> None:
    """Grow each claim smaller than `size` in place; check every one (and each StorageClass once) before changing
    any."""
    smaller = [claim for claim in claims if grows(requested_size(claim), size)]
    first_of_class: dict[str | None, Mapping[str, Any]] = {}
    for claim in smaller:
        first_of_class.setdefault(claim["spec"].get("storageClassName"), claim)
    for class_name, claim in first_of_class.items():
        refusal = await expansion_refusal(kube, class_name, field, requested_size(claim), size)
        if refusal:
            raise StorageRefused(f"{refusal} (PersistentVolumeClaim {claim['metadata']['name']})")
    for claim in smaller:
        name = claim["metadata"]["name"]
        phase = (claim.get("status") or {}).get("phase")
        if phase != "Bound":
            raise StorageWaiting(f"{field}: PersistentVolumeClaim {name} is {phase}, not bound: it can grow once bound")
    for claim in smaller:
        await kube.resize_volume_claim(namespace, claim["metadata"]["name"], size)


async def _orphan_statefulset(kube: Kube, namespace: str, name: str) -> None:
    await kube.orphan_statefulset(namespace, name)
    deadline = time.monotonic() + STATEFULSET_GONE_SECONDS
    while await kube.read_statefulset(namespace, name) is not None:
        if time.monotonic() > deadline:
            raise StorageWaiting(f"StatefulSet {name} is still being deleted (its pods are kept); retrying")
        await asyncio.sleep(0.5)


async def grow_storage(
    kube: Kube, namespace: str, name: str, spec: Mapping[str, Any], claims: Sequence[Mapping[str, Any]]
) -> bool:
    """Make the volumes (`claims`: the Database's data volume claims, data_volumes) as big as the spec asks.
    Returns whether the StatefulSet is missing while data volumes exist: `up` must then refresh, so the stack
    re-creates it."""
    size = str(spec["storage"]["size"])
    await _grow_claims(kube, namespace, claims, "spec.storage.size", size)
    statefulset = await kube.read_statefulset(namespace, name)
    templates = (statefulset or {}).get("spec", {}).get("volumeClaimTemplates") or []
    if statefulset is not None and any(grows(requested_size(template), size) for template in templates):
        await _orphan_statefulset(kube, namespace, name)
        statefulset = None
    backup = spec.get("backup") or {}
    if backup.get("enabled") and backup.get("storageSize"):
        volume = await kube.read_volume_claim(namespace, backup_name(name))
        if volume is not None:
            await _grow_claims(kube, namespace, [volume], "spec.backup.storageSize", str(backup["storageSize"]))
    return statefulset is None and bool(claims)


async def admission_refusals(
    kube: Kube, namespace: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[str]:
    """Refuse up front, at admission, a size increase the StorageClass cannot make: the data volumes' against the
    stored spec, the backup volume's (while backups are on) against the volume itself, which outlives turning
    backups off."""
    refusals: list[str | None] = []
    if growth := data_growth(old, new):
        storage_class = (new.get("storage") or {}).get("class")
        refusals.append(await expansion_refusal(kube, storage_class, "spec.storage.size", *growth))
    backup = new.get("backup") or {}
    volume = await kube.read_volume_claim(namespace, backup_name(name)) if backup.get("enabled") else None
    if volume is not None and backup.get("storageSize"):
        size, wanted = requested_size(volume), str(backup["storageSize"])
        if grows(size, wanted):
            storage_class = volume["spec"].get("storageClassName")
            refusals.append(await expansion_refusal(kube, storage_class, "spec.backup.storageSize", size, wanted))
    return [refusal for refusal in refusals if refusal]


def growth_notes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """What a spec change grows in place, for a preview: the stack's own plan does not show it."""
    notes = []
    if growth := data_growth(old, new):
        notes.append(
            f"grow     data volumes from {growth[0]} to {growth[1]} in place; the StatefulSet is re-created around "
            "its running pods (spec.storage.size)"
        )
    old_backup, backup = (old.get("backup") or {}).get("storageSize"), new.get("backup") or {}
    new_backup = backup.get("storageSize")
    if backup.get("enabled") and grows(old_backup, new_backup):
        notes.append(f"grow     the backup volume from {old_backup} to {new_backup} in place (spec.backup.storageSize)")
    return tuple(notes)

"""The pods' files ConfigMaps that no pod uses any more, deleted.

Each content of a Database's pod files is its own immutable ConfigMap `<name>-config-<hash>`
(program/database_program/configmap.py), which Pulumi leaves behind when the content changes: pods of the old
revision mount it until the rollout has replaced them. Once the StatefulSet's rollout is complete (every pod of the
revision its template makes, and the template is what the last successful `up` applied), only the ConfigMap the
template names is in use, and the others go. The old `<name>-config` of a version before this one goes the same
way (legacy_pod_files).

Never while a stack operation runs or after one that failed: the `up` of a new content creates its ConfigMap before
the StatefulSet names it, and a ConfigMap in the stack's state that is gone would break the pods made next.
"""

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from database_operator.instances import pod_revision, update_revision
from database_operator.precheck import drop_from_record
from database_operator.runtime import DatabaseTracker, Runtime
from database_operator.status import reconciled

MANAGED_BY_OPERATOR = "app.kubernetes.io/managed-by=database-operator"


def is_pod_files(database: str, config_map: str) -> bool:
    """`<database>-config-<10 hex digits>`, or the `<database>-config` of a version before them."""
    return re.fullmatch(rf"{re.escape(database)}-config(-[0-9a-f]{{10}})?", config_map) is not None


def legacy_pod_files(database: str, statefulset: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The `<name>-config` of a version before the hashed names, while the live pods still mount it: the `up` to
    the hashed name would replace it, and Pulumi deletes what it replaces (its state holds no `retain_on_delete`
    for it), under the old pods. So it is dropped from the stack's state first (Stacks.up's `forget`) and left to
    the pruning here, after the rollout. Empty once the StatefulSet names a hashed one."""
    legacy = f"{database}-config"
    return (legacy,) if statefulset is not None and legacy in mounted(statefulset) else ()


def rolled_out(statefulset: Mapping[str, Any], pods: Mapping[str, Mapping[str, Any]]) -> bool:
    """Every pod of the Database is of the revision the StatefulSet's current template makes: as many as it wants
    by its count, and each the watch has seen. Not `status.currentRevision`: under the OnDelete strategy (the
    operator rolls the pods, roll.py) the StatefulSet controller never moves it on."""
    revision = update_revision(statefulset)
    status = statefulset.get("status") or {}
    wanted = int((statefulset.get("spec") or {}).get("replicas", 1))
    return (
        revision is not None
        and int(status.get("updatedReplicas") or 0) >= wanted
        and all(pod_revision(pod) == revision for pod in pods.values())
    )


def mounted(statefulset: Mapping[str, Any]) -> set[str]:
    """The ConfigMaps the StatefulSet's pod template mounts."""
    volumes = (((statefulset.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes") or []
    return {volume["configMap"]["name"] for volume in volumes if volume.get("configMap")}


def unused(database: str, config_maps: list[str], statefulset: Mapping[str, Any]) -> list[str]:
    in_use = mounted(statefulset)
    return sorted(name for name in config_maps if is_pod_files(database, name) and name not in in_use)


async def prune_pod_files(rt: Runtime, tracker: DatabaseTracker, generation: int | None) -> None:
    """Delete the Database's pod files ConfigMaps no pod can mount any more: only after a rollout is complete and
    while the last `up` (of this generation) succeeded and none runs."""
    statefulset = tracker.statefulset
    if (
        statefulset is None
        or tracker.operation.locked()
        or not reconciled(tracker.status.get("conditions", []), generation)
        or not rolled_out(statefulset, dict(tracker.pods))
    ):
        return
    selector = f"app.kubernetes.io/instance={tracker.name},{MANAGED_BY_OPERATOR}"
    listed = await rt.kube.list_metadata("v1", "configmaps", tracker.namespace, selector)
    pruned = unused(tracker.name, [item.get("name", "") for item in listed], statefulset)
    for name in pruned:
        tracker.pruned_config_maps.add(name)
        await rt.kube.delete_config_map(tracker.namespace, name)
    if pruned:
        await asyncio.to_thread(drop_from_record, rt, tracker, "ConfigMap", pruned)

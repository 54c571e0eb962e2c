"""Old pod files ConfigMaps (`<name>-config-<hash>`, kept by Pulumi for the old pods) go once the rollout is over,
never while a pod or the StatefulSet could still mount them, and never behind a failed or running operation."""

import asyncio
from pathlib import Path
from typing import Any

import kopf
import pytest

from database_operator.apply import apply_database
from database_operator.drift import check_drift
from database_operator.observe import observe_owned_object
from database_operator.pod_files import prune_pod_files
from database_operator.precheck import load_record, record_owned_objects
from database_operator.runtime import DatabaseTracker, Runtime
from tests.operator.conftest import FakeKube, FakeStacks, MakeDatabase, managed_by

OLD, NEW = "orders-config-0123456789", "orders-config-abcdef0123"


def statefulset(current: str, update: str, mounts: str) -> dict[str, Any]:
    """Two pods; the controller counts both updated once `current` is `update`."""
    volumes = [
        {"name": "scripts", "configMap": {"name": mounts}},
        {"name": "tls-ca", "configMap": {"name": "orders-ca"}},
    ]
    status = {"observedGeneration": 2, "currentRevision": current, "updateRevision": update}
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "orders", "namespace": "shop", "generation": 2},
        "spec": {"replicas": 2, "template": {"spec": {"volumes": volumes}}},
        "status": {**status, "updatedReplicas": 2 if current == update else 1},
    }


def pod(index: int, revision: str) -> dict[str, Any]:
    return {"metadata": {"name": f"orders-{index}", "labels": {"controller-revision-hash": revision}}, "status": {}}


def config_map(name: str, instance: str = "orders") -> dict[str, Any]:
    labels = {"app.kubernetes.io/instance": instance, "app.kubernetes.io/managed-by": "database-operator"}
    return {"metadata": {"name": name, "namespace": "shop", "labels": labels}}


@pytest.fixture
def tracker(runtime: Runtime, kube: FakeKube, database: MakeDatabase) -> DatabaseTracker:
    asyncio.run(apply_database(runtime, database(), retry=0))  # a successful `up` of generation 1
    tracker = runtime.trackers[("shop", "orders")]
    for name in (OLD, NEW, "orders-config", "orders-ca", "orders-backup", "orders-config-extra"):
        kube.objects[("configmaps", "shop", name)] = config_map(name)
    kube.objects[("configmaps", "shop", "billing-config-0123456789")] = config_map(
        "billing-config-0123456789", "billing"
    )
    kube.actions.clear()
    return tracker


def prune(runtime: Runtime, tracker: DatabaseTracker, kube: FakeKube) -> list[str]:
    asyncio.run(prune_pod_files(runtime, tracker, 1))
    return [name for verb, name, _ in kube.actions if verb == "delete-config-map"]


def test_after_a_complete_rollout_only_the_mounted_one_stays(
    runtime: Runtime, kube: FakeKube, stacks: FakeStacks, tracker: DatabaseTracker, tmp_path: Path
) -> None:
    stacks.settings_dir = tmp_path
    tracker.statefulset = statefulset("rev-b", "rev-b", mounts=NEW)
    tracker.pods = {"orders-0": pod(0, "rev-b"), "orders-1": pod(1, "rev-b")}
    asyncio.run(record_owned_objects(runtime, tracker, drift_checked=False))  # as the last `up` left them
    # The legacy `<name>-config` goes too; the CA, the backup script and other names are not pod files.
    assert prune(runtime, tracker, kube) == ["orders-config", OLD]
    # Nor is their disappearance drift for the pre-check: they leave the record of the Database's objects.
    record = load_record(runtime, tracker)
    assert record is not None and {"ConfigMap/orders-config", f"ConfigMap/{OLD}"}.isdisjoint(record.objects)
    assert f"ConfigMap/{NEW}" in record.objects


def test_nothing_goes_while_a_pod_of_the_old_revision_remains(
    runtime: Runtime, kube: FakeKube, tracker: DatabaseTracker
) -> None:
    tracker.statefulset = statefulset("rev-a", "rev-b", mounts=NEW)
    tracker.pods = {"orders-0": pod(0, "rev-a"), "orders-1": pod(1, "rev-b")}
    assert prune(runtime, tracker, kube) == []
    # The controller has marked the rollout done, but a pod of the old revision is still there (the watch says).
    tracker.statefulset = statefulset("rev-b", "rev-b", mounts=NEW)
    assert prune(runtime, tracker, kube) == []


def test_nothing_goes_while_an_operation_runs_or_after_one_failed(
    runtime: Runtime, kube: FakeKube, tracker: DatabaseTracker
) -> None:
    """A running or failed `up` may have created a ConfigMap the StatefulSet does not name yet: its state has it."""
    tracker.statefulset = statefulset("rev-b", "rev-b", mounts=NEW)
    tracker.pods = {"orders-0": pod(0, "rev-b")}

    async def during_operation() -> None:
        async with tracker.operation:
            await prune_pod_files(runtime, tracker, 1)

    asyncio.run(during_operation())
    assert asyncio.run(prune_pod_files(runtime, tracker, 2)) is None  # generation 2 not (yet) applied
    assert kube.actions == []


def test_the_legacy_config_map_the_pods_mount_is_taken_from_pulumi_before_the_up(
    runtime: Runtime, kube: FakeKube, stacks: FakeStacks, tracker: DatabaseTracker, database: MakeDatabase
) -> None:
    """After an upgrade from `<name>-config`: Pulumi would delete it under the old pods when it replaces it."""
    tracker.statefulset = statefulset("rev-a", "rev-a", mounts="orders-config")
    asyncio.run(apply_database(runtime, database(generation=2, replicas=2), retry=0))
    tracker.statefulset = statefulset("rev-a", "rev-b", mounts=NEW)
    asyncio.run(apply_database(runtime, database(generation=3, replicas=3), retry=0))
    assert stacks.forgotten[-2:] == [("orders-config",), ()]


def test_so_is_it_before_a_drift_correction(
    runtime: Runtime, stacks: FakeStacks, tracker: DatabaseTracker, database: MakeDatabase
) -> None:
    """After an operator upgrade the new program is drift: its correction would replace `<name>-config` too."""
    tracker.statefulset = statefulset("rev-a", "rev-a", mounts="orders-config")
    asyncio.run(check_drift(runtime, tracker, database()))
    assert stacks.forgotten[-1] == ("orders-config",)


def test_its_deletion_is_not_drift(runtime: Runtime, kube: FakeKube, tracker: DatabaseTracker) -> None:
    tracker.statefulset = statefulset("rev-b", "rev-b", mounts=NEW)
    tracker.pods = {"orders-0": pod(0, "rev-b")}
    prune(runtime, tracker, kube)
    deleted = {**config_map(OLD), "kind": "ConfigMap"}
    deleted["metadata"]["managedFields"] = managed_by(("pulumi-kubernetes-5f2a", None))
    observe_owned_object(runtime, "DELETED", kopf.Body(deleted))
    assert not tracker.drift_suspected
    observe_owned_object(runtime, "DELETED", kopf.Body({**config_map(NEW), "kind": "ConfigMap"}))
    assert tracker.drift_suspected  # one the operator did not prune: drift as before

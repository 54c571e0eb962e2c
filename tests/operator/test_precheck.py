"""The drift pre-check decides which Databases Pulumi checks: only those whose objects changed or disappeared,
whose record is missing, or whose full refresh is due; an in-sync Database costs no Pulumi run."""

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from database_operator.precheck import (
    LISTED_KINDS,
    Record,
    Verdict,
    forget_record,
    load_record,
    object_version,
    precheck,
    record_owned_objects,
    verdict,
)
from database_operator.runtime import DatabaseTracker, Runtime
from tests.operator.conftest import FakeKube, FakeStacks

HOUR = 3600.0
LABELS = {"app.kubernetes.io/managed-by": "database-operator", "app.kubernetes.io/instance": "orders"}


def test_an_unchanged_database_needs_no_check() -> None:
    record = Record({"Service/orders": "rv:5", "StatefulSet/orders": "gen:1:x"}, checked_at=0.0)
    assert verdict(record, dict(record.objects), now=HOUR, full_refresh_seconds=6 * HOUR) is Verdict.UNCHANGED


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        ({"Service/orders": "rv:6", "StatefulSet/orders": "gen:1:x"}, Verdict.CHANGED),
        ({"Service/orders": "rv:5", "StatefulSet/orders": "gen:2:x"}, Verdict.CHANGED),
        ({"Service/orders": "rv:5", "StatefulSet/orders": "gen:1:x", "ConfigMap/orders": "rv:9"}, Verdict.CHANGED),
        ({"StatefulSet/orders": "gen:1:x"}, Verdict.DISAPPEARED),
        ({}, Verdict.DISAPPEARED),
    ],
)
def test_a_changed_appeared_or_disappeared_object_needs_a_check(live: dict[str, str], expected: Verdict) -> None:
    record = Record({"Service/orders": "rv:5", "StatefulSet/orders": "gen:1:x"}, checked_at=0.0)
    assert verdict(record, live, now=HOUR, full_refresh_seconds=6 * HOUR) is expected


def test_a_lost_or_empty_record_never_means_in_sync() -> None:
    live = {"Service/orders": "rv:5"}
    assert verdict(None, live, now=HOUR, full_refresh_seconds=6 * HOUR) is Verdict.NO_RECORD
    assert verdict(Record({}, checked_at=0.0), {}, now=HOUR, full_refresh_seconds=6 * HOUR) is Verdict.NO_RECORD


def test_the_full_refresh_comes_due_even_when_nothing_changed() -> None:
    record = Record({"Service/orders": "rv:5"}, checked_at=0.0)
    assert (
        verdict(record, dict(record.objects), now=6 * HOUR, full_refresh_seconds=6 * HOUR) is Verdict.FULL_REFRESH_DUE
    )


def test_a_status_write_is_no_change_but_a_spec_label_or_annotation_write_is() -> None:
    statefulset = {"name": "orders", "generation": 3, "resourceVersion": "100", "labels": LABELS, "annotations": {}}
    status_written = {**statefulset, "resourceVersion": "101"}  # readyReplicas, by the controller
    assert object_version(status_written) == object_version(statefulset)
    for written in ({"generation": 4}, {"labels": {**LABELS, "x": "y"}}, {"annotations": {"a": "b"}}):
        assert object_version({**statefulset, **written}) != object_version(statefulset)
    service = {"name": "orders", "resourceVersion": "7", "labels": LABELS}  # no generation: every write counts
    assert object_version({**service, "resourceVersion": "8"}) != object_version(service)


@dataclass
class ListingKube(FakeKube):
    """Objects' metadata by (api version, plural); records every LIST as the API server would receive it."""

    metadata_by_kind: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    lists: list[tuple[str, str | None, str]] = field(default_factory=list)
    failing: bool = False

    async def list_metadata(
        self, api_version: str, plural: str, namespace: str | None, label_selector: str
    ) -> list[dict[str, Any]]:
        if self.failing:
            raise ConnectionError("API server unreachable")
        self.lists.append((plural, namespace, label_selector))
        wanted = dict(item.split("=") for item in label_selector.split(","))
        return [
            metadata
            for metadata in self.metadata_by_kind.get((api_version, plural), [])
            if namespace in (None, metadata["namespace"]) and wanted.items() <= metadata["labels"].items()
        ]


def metadata(name: str, namespace: str = "shop", instance: str = "orders", **more: Any) -> dict[str, Any]:
    labels = {**LABELS, "app.kubernetes.io/instance": instance}
    return {"name": name, "namespace": namespace, "resourceVersion": "1", "labels": labels, **more}


@pytest.fixture
def listing(runtime: Runtime, stacks: FakeStacks, tmp_path: Path) -> tuple[Runtime, ListingKube]:
    """Two deployed Databases, shop/orders and shop/carts, with a StatefulSet and a Service each."""
    (tmp_path / "workspaces").mkdir()
    stacks.settings_dir = tmp_path / "workspaces"
    kube = ListingKube()
    for instance in ("orders", "carts"):
        kube.metadata_by_kind.setdefault(("apps/v1", "statefulsets"), []).append(
            metadata(instance, instance=instance, generation=1)
        )
        kube.metadata_by_kind.setdefault(("v1", "services"), []).append(metadata(instance, instance=instance))
    rt = dataclasses.replace(runtime, kube=kube)  # type: ignore[arg-type]
    for instance in ("orders", "carts"):
        rt.tracker("shop", instance).applied_generation = 1
    return rt, kube


def recorded(rt: Runtime) -> DatabaseTracker:
    """Every Database's objects recorded as a drift check would; shop/orders' tracker."""
    for tracker in rt.trackers.values():
        asyncio.run(record_owned_objects(rt, tracker, drift_checked=True))
    return rt.trackers["shop", "orders"]


def test_in_sync_databases_get_no_check_from_one_list_per_kind(listing: tuple[Runtime, ListingKube]) -> None:
    rt, kube = listing
    recorded(rt)
    kube.lists.clear()
    assert asyncio.run(precheck(rt)) == []
    assert not any(tracker.drift_suspected for tracker in rt.trackers.values())
    selector = "app.kubernetes.io/managed-by=database-operator"
    assert sorted(kube.lists) == sorted((plural, None, selector) for _, plural, _ in LISTED_KINDS)


def test_only_the_database_whose_object_changed_or_disappeared_is_checked(listing: tuple[Runtime, ListingKube]) -> None:
    rt, kube = listing
    recorded(rt)
    kube.metadata_by_kind["v1", "services"][0]["resourceVersion"] = "2"  # orders' Service edited
    assert [tracker.name for tracker in asyncio.run(precheck(rt))] == ["orders"]
    recorded(rt)
    rt.trackers["shop", "orders"].drift_suspected = False
    del kube.metadata_by_kind["apps/v1", "statefulsets"][1]  # carts' StatefulSet deleted
    assert [tracker.name for tracker in asyncio.run(precheck(rt))] == ["carts"]
    assert rt.trackers["shop", "carts"].drift_suspected and not rt.trackers["shop", "orders"].drift_suspected


def test_a_lost_record_is_checked_by_pulumi_and_a_failed_recording_loses_it(
    listing: tuple[Runtime, ListingKube],
) -> None:
    rt, kube = listing
    orders = recorded(rt)
    forget_record(rt, orders)  # e.g. a drift check that failed, or the state directory lost
    assert [tracker.name for tracker in asyncio.run(precheck(rt))] == ["orders"]
    recorded(rt)
    kube.failing = True
    asyncio.run(record_owned_objects(rt, orders, drift_checked=True))
    assert load_record(rt, orders) is None


def test_the_record_survives_a_restart_and_an_up_keeps_the_last_check_time(
    listing: tuple[Runtime, ListingKube],
) -> None:
    rt, _ = listing
    orders = recorded(rt)
    checked_at = load_record(rt, orders).checked_at  # type: ignore[union-attr]
    asyncio.run(record_owned_objects(rt, orders, drift_checked=False))  # an `up`: live objects not compared
    assert load_record(rt, orders).checked_at == checked_at  # type: ignore[union-attr]
    restarted = dataclasses.replace(rt, trackers={})  # a new process: nothing in memory, the workspace kept
    restarted.tracker("shop", "orders").applied_generation = 1
    restarted.tracker("shop", "carts").applied_generation = 1
    assert asyncio.run(precheck(restarted)) == []


def test_a_full_refresh_is_due_after_its_interval(listing: tuple[Runtime, ListingKube]) -> None:
    rt, _ = listing
    recorded(rt)
    settings = dataclasses.replace(rt.settings, full_refresh_interval_seconds=1.0)
    time.sleep(1.1)
    assert len(asyncio.run(precheck(dataclasses.replace(rt, settings=settings)))) == 2


def test_namespaced_mode_lists_each_namespace_with_databases(listing: tuple[Runtime, ListingKube]) -> None:
    rt, kube = listing
    rt = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, namespaces=("shop", "team-*")))
    recorded(rt)
    kube.lists.clear()
    asyncio.run(precheck(rt))
    assert {namespace for _, namespace, _ in kube.lists} == {"shop"}


def test_a_database_with_an_operation_running_is_left_to_it(listing: tuple[Runtime, ListingKube]) -> None:
    rt, _kube = listing
    orders: DatabaseTracker = rt.trackers["shop", "orders"]

    async def during_an_operation() -> list[DatabaseTracker]:
        async with orders.operation:
            return await precheck(rt)

    assert [tracker.name for tracker in asyncio.run(during_an_operation())] == ["carts"]  # no record: checked

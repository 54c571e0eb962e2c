"""Data safety in the operator: storage grows in place, foreign objects are not adopted, passwords come from the
live Secrets, update rules hold against the deployed spec, admission refuses names and sizes that cannot work,
deletion follows the policy."""

import asyncio
import json
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from pytest_mock import MockerFixture

from database_operator.admission_safety import safety_errors
from database_operator.apply import apply_database
from database_operator.deletion import delete_database
from database_operator.drift import check_drift
from database_operator.guard import ProtectionRefused
from database_operator.passwords import CredentialsMissing
from database_operator.plan import Plan, render_text
from database_operator.runtime import Runtime
from database_operator.server_tls import TLS_KEYS
from database_operator.stack_errors import StackError
from database_operator.storage import data_growth, grows, growth_notes
from tests.operator.conftest import Events, FakeKube, FakeStacks, MakeDatabase, result

DATA_LABELS = {"app.kubernetes.io/instance": "orders", "app.kubernetes.io/component": "database"}
OWN_LABELS = {"app.kubernetes.io/instance": "orders", "app.kubernetes.io/managed-by": "database-operator"}


def claim(name: str, size: str, storage_class: str = "expandable", phase: str = "Bound") -> dict[str, Any]:
    labels = DATA_LABELS if name.startswith("data-") else {**OWN_LABELS, "app.kubernetes.io/component": "backup"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"storageClassName": storage_class, "resources": {"requests": {"storage": size}}},
        "status": {"phase": phase},
    }


def with_volumes(kube: FakeKube, size: str = "10Gi", template: str = "10Gi", **claim_options: Any) -> None:
    kube.storage_classes = {
        "expandable": {"metadata": {"name": "expandable"}, "allowVolumeExpansion": True},
        "fixed": {"metadata": {"name": "fixed"}},
    }
    kube.default_class = "fixed"
    for ordinal in (0, 1):
        kube.objects[("persistentvolumeclaims", "shop", f"data-orders-{ordinal}")] = claim(
            f"data-orders-{ordinal}", size, **claim_options
        )
    kube.objects[("statefulsets", "shop", "orders")] = {
        "metadata": {"name": "orders", "labels": OWN_LABELS},
        "spec": {"volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": template}}}}]},
    }


def requested(kube: FakeKube, name: str) -> str:
    return str(kube.objects[("persistentvolumeclaims", "shop", name)]["spec"]["resources"]["requests"]["storage"])


def test_growing_storage_grows_the_claims_in_place_and_recreates_the_statefulset_around_its_pods(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    with_volumes(kube)
    asyncio.run(apply_database(runtime, database(generation=2, storage={"size": "20Gi"}), retry=0))
    assert kube.actions == [
        ("resize", "data-orders-0", "20Gi"),
        ("resize", "data-orders-1", "20Gi"),
        ("orphan", "orders", None),
    ]
    [(kind, _, refresh)] = stacks.calls
    assert (kind, refresh) == ("up", True)  # the refresh sees the StatefulSet gone: up re-creates it


def test_growth_runs_twice_without_doing_anything_twice(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    """A second run (after a crash between the re-creation and the end of `up`) changes nothing more but still
    makes `up` refresh, so the missing StatefulSet is re-created."""
    with_volumes(kube, size="20Gi")
    kube.objects.pop(("statefulsets", "shop", "orders"))
    asyncio.run(apply_database(runtime, database(generation=2, storage={"size": "20Gi"}), retry=0))
    assert kube.actions == []
    assert stacks.calls[0][2] is True


def test_an_unchanged_size_touches_nothing(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    with_volumes(kube)
    asyncio.run(apply_database(runtime, database(replicas=2), retry=0))
    assert kube.actions == [] and stacks.calls[0][2] is False


def test_a_class_that_cannot_expand_is_refused_naming_the_field_and_the_class(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    with_volumes(kube, storage_class="fixed")
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(apply_database(runtime, database(generation=2, storage={"size": "20Gi"}), retry=0))
    assert kube.actions == [] and stacks.calls == []
    condition = kube.condition("Reconciled")
    assert condition["reason"] == "StorageRefused"
    assert condition["message"].startswith("spec.storage.size: cannot grow from 10Gi to 20Gi: StorageClass fixed")
    assert "StorageRefused" in events.reasons()


def test_an_unbound_claim_is_waited_for_and_nothing_changes_meanwhile(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    with_volumes(kube)
    kube.objects[("persistentvolumeclaims", "shop", "data-orders-1")]["status"]["phase"] = "Pending"
    with pytest.raises(kopf.TemporaryError, match="data-orders-1 is Pending"):
        asyncio.run(apply_database(runtime, database(generation=2, storage={"size": "20Gi"}), retry=0))
    assert kube.actions == [] and stacks.calls == []


def test_the_backup_volume_grows_in_place(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    with_volumes(kube)
    kube.objects[("persistentvolumeclaims", "shop", "orders-backup")] = claim("orders-backup", "5Gi")
    asyncio.run(apply_database(runtime, database(backup={"enabled": True, "storageSize": "8Gi"}), retry=0))
    assert kube.actions == [("resize", "orders-backup", "8Gi")]
    assert requested(kube, "data-orders-0") == "10Gi"


def foreign_service(owner: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "orders-ro",
            "labels": {**OWN_LABELS, "app.kubernetes.io/instance": owner},
            "ownerReferences": [{"kind": "Database", "name": owner, "uid": "u-other"}],
        }
    }


def test_a_foreign_object_is_not_adopted(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    kube.objects[("services", "shop", "orders-ro")] = foreign_service("orders-r")
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(apply_database(runtime, database(), retry=0))
    assert stacks.calls == []
    condition = kube.condition("Reconciled")
    assert condition["reason"] == "ForeignObject"
    assert condition["message"].startswith("Service orders-ro exists and is not this Database's")
    assert kube.status()["phase"] == "Failed"
    assert "belongs to Database orders-r" in condition["message"]
    assert "ForeignObject" in events.reasons()


def test_the_applications_own_config_map_named_like_the_database_is_no_obstacle(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    """The pods' files are `<name>-config-<hash>`: an application's `orders-config` is neither adopted nor refused."""
    kube.objects[("configmaps", "shop", "orders-config")] = {"metadata": {"name": "orders-config", "labels": {}}}
    asyncio.run(apply_database(runtime, database(), retry=0))
    assert stacks.kinds() == ["up"]


@pytest.mark.parametrize(
    "metadata",
    [
        {"labels": OWN_LABELS},  # kept by a Database of this name under Retain
        {"labels": {}, "ownerReferences": [{"kind": "Database", "name": "orders", "uid": "u-1"}]},  # after a crash
    ],
)
def test_its_own_objects_are_adopted(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase, metadata: dict[str, Any]
) -> None:
    kube.objects[("secrets", "shop", "orders-credentials")] = {"metadata": {"name": "orders-credentials", **metadata}}
    asyncio.run(apply_database(runtime, database(), retry=0))
    assert stacks.kinds() == ["up"]


def test_every_path_adopts_all_three_live_passwords(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    with_volumes(kube)
    kube.secrets[("shop", "orders-credentials")] = {"admin-password": "a", "password": "u"}
    kube.secrets[("shop", "orders-replication")] = {"password": "r"}
    body = database()
    asyncio.run(apply_database(runtime, body, retry=0))
    tracker = runtime.trackers[("shop", "orders")]
    stacks.applied.clear()  # the operator's state directory is lost: the drift check re-creates the configuration
    stacks.preview_results.append(result("preview", update=1))
    asyncio.run(check_drift(runtime, tracker, body))
    assert stacks.kinds() == ["up", "check_drift", "correct_drift"]
    for _, request, _ in stacks.calls:
        assert request.live_passwords == {"adminPassword": "a", "userPassword": "u", "replicationPassword": "r"}
        assert request.data_volumes == ("data-orders-0", "data-orders-1")
        assert request.uid == "u-1"


def test_the_apply_path_refuses_what_the_update_rules_refuse_against_the_deployed_spec(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase, tmp_path: Path
) -> None:
    """A spec stored while neither the CRD nor the webhooks checked it (an older CRD, webhooks off)."""
    stacks.settings_dir = tmp_path
    deployed = {"type": "postgresql", "version": "16", "storage": {"size": "10Gi"}}
    settings = {"config": {"database:spec": json.dumps(deployed)}}
    (tmp_path / "Pulumi.shop.orders.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(kopf.PermanentError):
        asyncio.run(apply_database(runtime, database(type="postgresql", version="17"), retry=0))
    assert stacks.calls == []
    condition = kube.condition("Reconciled")
    assert condition["reason"] == "InvalidSpec"
    assert condition["message"].startswith("spec.version: a PostgreSQL major version change is refused")


SPEC = {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}}


@pytest.mark.parametrize(
    ("name", "others", "expected"),
    [
        ("x" * 70, [], "metadata.name: at most 45 characters (got 70)"),
        ("dotted.name", [], "metadata.name: 'dotted.name' must consist of"),
        ("x-ro", ["x"], "metadata.name: a Database 'x-ro' would have the same Service x-ro as the Database 'x'"),
        ("x", ["x-headless"], "metadata.name: a Database 'x' would have the same Service x-headless as"),
    ],
)
def test_admission_refuses_names_that_cannot_work(kube: FakeKube, name: str, others: list[str], expected: str) -> None:
    kube.databases = {("shop", other): {} for other in others}
    errors = asyncio.run(safety_errors(kube, "shop", name, SPEC, None))  # type: ignore[arg-type]
    assert any(error.startswith(expected) for error in errors), errors


def test_admission_allows_unrelated_names(kube: FakeKube) -> None:
    kube.databases = {("shop", "orders"): {}, ("shop", "orders-eu"): {}}
    assert asyncio.run(safety_errors(kube, "shop", "orders-us", SPEC, None)) == []  # type: ignore[arg-type]


def test_admission_refuses_growth_the_class_cannot_make(kube: FakeKube) -> None:
    with_volumes(kube)
    grown = {**SPEC, "storage": {"size": "20Gi"}}
    [error] = asyncio.run(safety_errors(kube, "shop", "orders", grown, SPEC))  # type: ignore[arg-type]
    assert error.startswith("spec.storage.size: cannot grow from 10Gi to 20Gi: StorageClass fixed does not allow")
    expandable = {**SPEC, "storage": {"size": "20Gi", "class": "expandable"}}
    old = {**SPEC, "storage": {"size": "10Gi", "class": "expandable"}}
    assert asyncio.run(safety_errors(kube, "shop", "orders", expandable, old)) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(("policy", "deleted"), [("Delete", True), ("Retain", False)])
def test_the_backup_volume_is_deleted_only_under_delete(
    runtime: Runtime, kube: FakeKube, database: MakeDatabase, policy: str, deleted: bool
) -> None:
    kube.objects[("persistentvolumeclaims", "shop", "orders-backup")] = claim("orders-backup", "5Gi")
    asyncio.run(delete_database(runtime, database(deletionPolicy=policy), retry=0))
    assert (("delete", "orders-backup", None) in kube.actions) is deleted


def test_a_foreign_volume_named_like_the_backup_volume_is_never_deleted(
    runtime: Runtime, kube: FakeKube, database: MakeDatabase
) -> None:
    kube.objects[("persistentvolumeclaims", "shop", "orders-backup")] = {"metadata": {"name": "orders-backup"}}
    asyncio.run(delete_database(runtime, database(deletionPolicy="Delete"), retry=0))
    assert kube.actions == []


def test_a_database_whose_name_is_no_label_value_can_still_be_deleted(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    """Stored before names were checked: no backup Job can carry it as a label, so none is looked for."""
    body = database()
    body["metadata"]["name"] = "n" * 70
    asyncio.run(delete_database(runtime, kopf.Body(dict(body)), retry=0))
    assert kube.deleted_jobs == []
    assert stacks.kinds() == ["destroy"]


@pytest.mark.parametrize(
    "refusal",
    [
        ProtectionRefused("refused: the change would delete or replace StatefulSet orders"),
        CredentialsMissing("Secret orders-credentials (key admin-password) is gone"),
    ],
)
def test_a_refusal_to_lose_data_is_a_condition_and_a_warning_with_its_own_reason(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase, refusal: StackError
) -> None:
    stacks.up_results.append(refusal)
    with pytest.raises(kopf.PermanentError):  # nothing to retry until someone acts
        asyncio.run(apply_database(runtime, database(), retry=0))
    reconciled = kube.condition("Reconciled")
    assert (reconciled["reason"], reconciled["message"]) == (refusal.reason, str(refusal))
    assert kube.status()["phase"] == "Failed"
    assert events.posted[-1] == ("Warning", refusal.reason, str(refusal))


def test_admission_judges_backup_growth_against_the_volume_and_only_while_backups_are_on(kube: FakeKube) -> None:
    with_volumes(kube)
    kube.objects[("persistentvolumeclaims", "shop", "orders-backup")] = claim("orders-backup", "5Gi", "fixed")
    off = {**SPEC, "backup": {"enabled": False, "storageSize": "10Gi"}}  # an environment change, backups off
    assert asyncio.run(safety_errors(kube, "shop", "orders", off, {**SPEC, "environment": "staging"})) == []  # type: ignore[arg-type]
    on = {**SPEC, "backup": {"enabled": True, "storageSize": "10Gi"}}
    [error] = asyncio.run(safety_errors(kube, "shop", "orders", on, off))  # type: ignore[arg-type]
    assert error.startswith("spec.backup.storageSize: cannot grow from 5Gi to 10Gi: StorageClass fixed")


def test_a_drift_correction_that_would_need_new_passwords_for_existing_data_is_refused_in_status(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    body = database()
    asyncio.run(apply_database(runtime, body, retry=0))
    tracker = runtime.trackers[("shop", "orders")]
    stacks.preview_results.append(CredentialsMissing("Secret orders-replication (key password) is gone"))
    asyncio.run(check_drift(runtime, tracker, body))
    condition = kube.condition("Reconciled")
    assert (condition["status"], condition["reason"]) == ("False", "CredentialsMissing")
    assert kube.status()["phase"] == "Failed"
    assert "orders-replication" in condition["message"]
    assert stacks.kinds() == ["up", "check_drift"]  # nothing corrected


def test_a_preview_says_what_grows_in_place() -> None:
    old = {**SPEC, "backup": {"enabled": True, "storageSize": "5Gi"}}
    new = {**SPEC, "storage": {"size": "20Gi"}, "backup": {"enabled": True, "storageSize": "8Gi"}}
    plan = Plan(steps=(), notes=growth_notes(old, new))
    assert plan.changed and not plan.data_loss
    assert render_text("Database shop/orders", plan).splitlines() == [
        "Database shop/orders: 2 to grow in place",
        "  ~  grow     data volumes from 10Gi to 20Gi in place; the StatefulSet is re-created around its running "
        "pods (spec.storage.size)",
        "  ~  grow     the backup volume from 5Gi to 8Gi in place (spec.backup.storageSize)",
    ]
    assert growth_notes(old, {**new, "backup": {"enabled": False, "storageSize": "8Gi"}})[1:] == ()


def test_a_gated_growth_is_planned_as_growing_in_place_and_waits(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase, tmp_path: Path
) -> None:
    with_volumes(kube)
    stacks.settings_dir = tmp_path
    settings = {"config": {"database:spec": json.dumps(SPEC)}}
    (tmp_path / "Pulumi.shop.orders.yaml").write_text(yaml.safe_dump(settings))
    gated = database(generation=2, storage={"size": "20Gi"}, updatePolicy="RequireApproval")
    asyncio.run(apply_database(runtime, gated, retry=0))
    assert stacks.kinds() == ["preview_proposed"] and kube.actions == []  # nothing grown before the approval
    [(_, reason, message)] = events.posted
    assert reason == "PlanReady" and ": 1 to grow in place" in message


def with_settings(stacks: FakeStacks, directory: Path, *password_keys: str) -> None:
    """The stack's settings file, holding (encrypted, as the operator writes them) these passwords."""
    stacks.settings_dir = directory
    config: dict[str, Any] = {"database:spec": json.dumps(SPEC)}
    config.update({f"database:{key}": {"secure": "v1:encrypted"} for key in password_keys})
    (directory / "Pulumi.shop.orders.yaml").write_text(yaml.safe_dump({"config": config}))


def test_one_apply_lists_the_data_volumes_once_and_reads_each_storage_class_once(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase, mocker: MockerFixture
) -> None:
    with_volumes(kube)  # two claims of one class, both to grow
    listed, classes = mocker.spy(kube, "list_volume_claims"), mocker.spy(kube, "storage_class")
    asyncio.run(apply_database(runtime, database(generation=2, storage={"size": "20Gi"}), retry=0))
    assert [action for action, _, _ in kube.actions] == ["resize", "resize", "orphan"]
    assert (listed.call_count, classes.call_count) == (1, 1)
    [(_, request, _)] = stacks.calls
    assert request.data_volumes == ("data-orders-0", "data-orders-1")  # the one listing served the passwords too


def test_the_live_secrets_are_read_only_while_the_settings_lack_a_password(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase, tmp_path: Path, mocker: MockerFixture
) -> None:
    kube.secrets[("shop", "orders-credentials")] = {"admin-password": "a", "password": "u"}
    kube.secrets[("shop", "orders-replication")] = {"password": "r"}
    kube.secrets[("shop", "orders-exporter")] = {"password": "e"}
    kube.secrets[("shop", "orders-backup")] = {"password": "b"}
    read = mocker.spy(kube, "read_secret")
    every_password = ("adminPassword", "userPassword", "replicationPassword", "exporterPassword", "backupPassword")
    with_settings(stacks, tmp_path, *every_password, *TLS_KEYS)
    asyncio.run(apply_database(runtime, database(replicas=2), retry=0))
    assert read.call_count == 0
    assert stacks.calls[-1][1].live_passwords is None  # "not read": the stack keeps its own

    with_settings(stacks, tmp_path, *every_password[:2])  # the replication, exporter and backup passwords are missing
    asyncio.run(apply_database(runtime, database(replicas=3), retry=0))
    assert read.call_count == 6  # one read per Secret (the TLS ones too)
    assert stacks.calls[-1][1].live_passwords == {
        "adminPassword": "a",
        "userPassword": "u",
        "replicationPassword": "r",
        "exporterPassword": "e",
        "backupPassword": "b",
    }


def test_a_size_grows_only_to_a_bigger_quantity_whatever_its_unit() -> None:
    assert grows("1Gi", "1025Mi") and grows("500M", "1Gi")
    assert not grows("1Gi", "1024Mi") and not grows("2Gi", "1Gi") and not grows(None, "1Gi")
    assert data_growth({"storage": {"size": "1Gi"}}, {"storage": {"size": "2Gi"}}) == ("1Gi", "2Gi")
    assert data_growth({"storage": {"size": "1Gi"}}, {"storage": {"size": "1024Mi"}}) is None

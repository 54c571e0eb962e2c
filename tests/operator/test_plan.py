"""Plans from preview steps: one line per object, replacements and deletions that lose data flagged."""

import pytest

from database_api.status import PlanState
from database_operator.plan import ResourceStep, build_plan, plan_id, plan_status, render_json, render_text

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
CRONJOB = "kubernetes:batch/v1:CronJob"


def step(op: str, type_: str, name: str, *fields: str, replacing: tuple[str, ...] = ()) -> ResourceStep:
    return ResourceStep(op, f"urn:pulumi:shop.orders::database::{type_}::{name}", type_, fields, replacing)


def test_a_scale_is_one_update_with_its_field() -> None:
    plan = build_plan(
        [
            step("same", "pulumi:pulumi:Stack", "database-shop.orders"),
            step("refresh", STATEFULSET, "orders"),
            step("update", STATEFULSET, "orders", "spec.replicas"),
            step("same", "kubernetes:core/v1:Service", "orders"),
        ],
        volumes_follow_statefulset=True,
    )
    assert [(s.resource, s.action, s.fields) for s in plan.changes] == [
        ("StatefulSet/orders", "update", ("spec.replicas",))
    ]
    assert plan.summary() == "1 to update" and plan.count("same") == 1
    assert plan.changed and not plan.data_loss


def test_an_unchanged_database_has_an_empty_plan() -> None:
    plan = build_plan([step("same", STATEFULSET, "orders"), step("refresh", PVC, "orders-backup")], True)
    assert not plan.changed and plan.summary() == "no changes"
    assert render_text("Database shop/orders", plan) == "Database shop/orders: no changes (1 unchanged)"


def test_the_phases_of_a_replacement_are_one_replace_flagged_as_data_loss() -> None:
    template = "spec.volumeClaimTemplates[0].spec.resources.requests.storage"
    plan = build_plan(
        [
            step("create-replacement", STATEFULSET, "orders", template, replacing=(template,)),
            step("replace", STATEFULSET, "orders", template, replacing=(template,)),
            step("delete-replaced", STATEFULSET, "orders"),
        ],
        volumes_follow_statefulset=True,
    )
    [replaced] = plan.steps
    assert (replaced.action, replaced.fields, replaced.replacing_fields) == ("replace", (template,), (template,))
    assert replaced.data_loss == (
        "replacing the StatefulSet (its volume template changed) deletes its data volumes (deletionPolicy Delete)"
    )
    text = render_text("Database shop/orders", plan)
    assert "+- replace  StatefulSet/orders: " + template in text
    assert "!! DATA LOSS: replacing the StatefulSet" in text
    assert "!! WARNING: this change may lose data" in text


@pytest.mark.parametrize(
    ("op", "type_", "retain", "loss"),
    [
        ("delete", PVC, False, "the volume and every file on it are deleted"),
        ("replace", PVC, True, "the volume and every file on it are deleted"),
        (
            "delete",
            STATEFULSET,
            True,
            "deleting the StatefulSet stops every database pod (data volumes kept: deletionPolicy Retain)",
        ),
        ("update", STATEFULSET, False, None),
        ("delete", CRONJOB, False, None),
        ("create", PVC, False, None),
    ],
)
def test_data_loss_flags(op: str, type_: str, retain: bool, loss: str | None) -> None:
    [planned] = build_plan([step(op, type_, "orders")], volumes_follow_statefulset=not retain).steps
    assert planned.data_loss == loss


def test_status_and_json_carry_counts_actions_and_flags() -> None:
    plan = build_plan(
        [
            step("create", CRONJOB, "orders-backup"),
            step("delete", PVC, "orders-backup"),
            step("same", STATEFULSET, "orders"),
        ],
        True,
    )
    status = plan_status(plan, "3-abc", PlanState.AWAITING_APPROVAL, 3, "2026-11-22T10:00:00Z")
    assert status["id"] == "3-abc" and status["state"] == "AwaitingApproval" and status["generation"] == 3
    assert (status["created"], status["deleted"], status["unchanged"], status["dataLoss"]) == (1, 1, 1, True)
    assert status["changes"] == [
        {"resource": "CronJob/orders-backup", "action": "create", "fields": []},
        {
            "resource": "PersistentVolumeClaim/orders-backup",
            "action": "delete",
            "fields": [],
            "dataLoss": "the volume and every file on it are deleted",
        },
    ]
    assert render_json(plan)["summary"] == {"create": 1, "update": 0, "replace": 0, "delete": 1, "same": 1}


def test_plan_ids_name_one_configuration_of_one_generation() -> None:
    spec = {"spec": {"replicas": 2}}
    assert plan_id(4, spec) == plan_id(4, {"spec": {"replicas": 2}})
    assert plan_id(4, spec).startswith("4-")
    assert plan_id(5, spec) != plan_id(4, spec)  # the same spec again later is a new plan
    assert plan_id(4, {"spec": {"replicas": 3}}) != plan_id(4, spec)


def test_deleting_a_retained_object_loses_nothing() -> None:
    retained = ResourceStep("delete", f"urn:pulumi:s::database::{PVC}::orders-backup", PVC, retained=True)
    plan = build_plan([retained], volumes_follow_statefulset=False)
    assert plan.changed and not plan.data_loss
    assert "-  delete   PersistentVolumeClaim/orders-backup (left in the cluster: retainOnDelete)" in render_text(
        "Database shop/orders", plan
    )

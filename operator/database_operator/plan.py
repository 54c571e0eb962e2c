"""Change plans: what a preview will do to each object, which of those changes may lose data, and how to show it.

Pure functions over the steps a preview reports (`stacks.py` turns the engine's events into `ResourceStep`s),
shared by the `database-operator preview` command and the approval gate.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from database_api.status import PlannedChange, PlanState, PlanStatus

CREATE, UPDATE, REPLACE, DELETE, SAME = "create", "update", "replace", "delete", "same"
# The engine reports a replacement as up to three steps (create the new object, replace, delete the old one).
_ACTION_OF_OP = {
    "same": SAME,
    "create": CREATE,
    "update": UPDATE,
    "delete": DELETE,
    "replace": REPLACE,
    "create-replacement": REPLACE,
    "delete-replaced": REPLACE,
}
# When one object shows several steps, the most consequential one describes it.
_WEIGHT = {SAME: 0, UPDATE: 1, CREATE: 2, DELETE: 3, REPLACE: 4}
_SYMBOL = {CREATE: "+", UPDATE: "~", REPLACE: "+-", DELETE: "-"}
_VOLUME_FIELDS = "spec.volumeClaimTemplates"


@dataclass(frozen=True)
class ResourceStep:
    """One step of a preview, as the engine reported it."""

    op: str
    """The engine's operation: same, create, update, delete, replace, create-replacement, refresh, read, ..."""
    urn: str
    type: str
    """Pulumi type token, e.g. kubernetes:apps/v1:StatefulSet."""
    fields: tuple[str, ...] = ()
    """Changed properties, e.g. spec.replicas."""
    replacing_fields: tuple[str, ...] = ()
    """The changed properties that force the object to be replaced."""
    retained: bool = False
    """The object is declared retainOnDelete: deleting it from the stack leaves it in the cluster."""


@dataclass(frozen=True)
class PlannedStep:
    """What the plan does to one Kubernetes object."""

    kind: str
    name: str
    action: str
    fields: tuple[str, ...] = ()
    replacing_fields: tuple[str, ...] = ()
    retained: bool = False
    data_loss: str | None = None

    @property
    def resource(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlannedStep, ...]
    notes: tuple[str, ...] = ()
    """What the operator does besides the stack's steps (volumes grown in place: database_operator.storage)."""

    @property
    def changes(self) -> tuple[PlannedStep, ...]:
        return tuple(step for step in self.steps if step.action != SAME)

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.notes)

    @property
    def data_loss(self) -> bool:
        return any(step.data_loss for step in self.steps)

    def count(self, action: str) -> int:
        return sum(1 for step in self.steps if step.action == action)

    def summary(self) -> str:
        parts = [
            f"{self.count(action)} to {action}" for action in (CREATE, UPDATE, REPLACE, DELETE) if self.count(action)
        ]
        if self.notes:
            parts.append(f"{len(self.notes)} to grow in place")
        return ", ".join(parts) or "no changes"


def data_loss(
    kind: str, action: str, fields: Iterable[str], volumes_follow_statefulset: bool, retained: bool = False
) -> str | None:
    """Why a change may lose data, or None. `volumes_follow_statefulset`: the StatefulSet's data volumes are
    deleted with it (deletionPolicy Delete). `retained`: a deleted object stays in the cluster."""
    if action == DELETE and retained:
        return None
    if kind == "PersistentVolumeClaim":
        return "the volume and every file on it are deleted" if action in (REPLACE, DELETE) else None
    if kind != "StatefulSet":
        return None
    volumes_changed = any(field.startswith(_VOLUME_FIELDS) for field in fields)
    if action not in (REPLACE, DELETE):
        return "the data volume template changes" if volumes_changed else None
    verb = "replacing" if action == REPLACE else "deleting"
    because = " (its volume template changed)" if volumes_changed else ""
    outcome = (
        "deletes its data volumes (deletionPolicy Delete)"
        if volumes_follow_statefulset
        else "stops every database pod (data volumes kept: deletionPolicy Retain)"
    )
    return f"{verb} the StatefulSet{because} {outcome}"


def _kind(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def build_plan(steps: Iterable[ResourceStep], volumes_follow_statefulset: bool) -> Plan:
    """One planned step per object, in the order the engine reported them. Refreshes, reads and Pulumi's own
    resources (the stack, the provider) are not changes to the Database's objects."""
    merged: dict[str, ResourceStep] = {}
    for step in steps:
        action = _ACTION_OF_OP.get(step.op)
        if action is None or step.type.startswith("pulumi:"):
            continue
        previous = merged.get(step.urn)
        merged[step.urn] = ResourceStep(
            op=max(action, previous.op, key=_WEIGHT.__getitem__) if previous else action,
            urn=step.urn,
            type=step.type,
            fields=tuple(dict.fromkeys([*(previous.fields if previous else ()), *step.fields])),
            replacing_fields=tuple(
                dict.fromkeys([*(previous.replacing_fields if previous else ()), *step.replacing_fields])
            ),
            retained=step.retained or (previous.retained if previous else False),
        )
    return Plan(
        steps=tuple(
            PlannedStep(
                kind=_kind(step.type),
                name=_name(step.urn),
                action=step.op,
                fields=step.fields,
                replacing_fields=step.replacing_fields,
                retained=step.retained,
                data_loss=data_loss(_kind(step.type), step.op, step.fields, volumes_follow_statefulset, step.retained),
            )
            for step in merged.values()
        )
    )


def plan_id(generation: int | None, configuration: Mapping[str, Any]) -> str:
    """`<generation>-<hash of everything the stack is configured with>`: a new spec (even one equal to an
    earlier spec) gets a new id, and an approval names exactly one configuration."""
    digest = hashlib.sha256(json.dumps(configuration, sort_keys=True).encode()).hexdigest()[:10]
    return f"{generation or 0}-{digest}"


def plan_status(plan: Plan, id_: str, state: PlanState, generation: int | None, time: str) -> dict[str, Any]:
    return PlanStatus(
        id=id_,
        state=state,
        generation=generation,
        created=plan.count(CREATE),
        updated=plan.count(UPDATE),
        replaced=plan.count(REPLACE),
        deleted=plan.count(DELETE),
        unchanged=plan.count(SAME),
        data_loss=plan.data_loss,
        changes=[
            PlannedChange(
                resource=step.resource, action=step.action, fields=list(step.fields), data_loss=step.data_loss
            )
            for step in plan.changes
        ],
        time=time,
    ).model_dump(by_alias=True, exclude_none=True, mode="json")


def render_text(title: str, plan: Plan) -> str:
    """The plan for people: one line per changed object, data loss impossible to miss."""
    lines = [f"{title}: {plan.summary()}" + (f" ({plan.count(SAME)} unchanged)" if plan.count(SAME) else "")]
    for step in plan.changes:
        detail = f": {', '.join(step.fields)}" if step.fields else ""
        if step.action == DELETE and step.retained:
            detail += " (left in the cluster: retainOnDelete)"
        lines.append(f"  {_SYMBOL[step.action]:<2} {step.action:<8} {step.resource}{detail}")
        if step.replacing_fields:
            lines.append(f"               replaced because of: {', '.join(step.replacing_fields)}")
        if step.data_loss:
            lines.append(f"     !! DATA LOSS: {step.data_loss}")
    lines += [f"  ~  {note}" for note in plan.notes]
    if plan.data_loss:
        lines.append("  !! WARNING: this change may lose data; read the lines marked DATA LOSS before applying it")
    return "\n".join(lines)


def render_json(plan: Plan) -> dict[str, Any]:
    return {
        "summary": {action: plan.count(action) for action in (CREATE, UPDATE, REPLACE, DELETE, SAME)},
        "changed": plan.changed,
        "dataLoss": plan.data_loss,
        "notes": list(plan.notes),
        "changes": [
            {
                "resource": step.resource,
                "action": step.action,
                "fields": list(step.fields),
                "replacingFields": list(step.replacing_fields),
                **({"dataLoss": step.data_loss} if step.data_loss else {}),
            }
            for step in plan.changes
        ],
    }

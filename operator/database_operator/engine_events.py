"""Reading the engine's event stream: the steps a preview announces, an `up`'s changes and outputs."""

from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from database_operator.plan import ResourceStep

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
"""The key that marks a secret value in the engine's serialized properties (and so in its event stream)."""
ROOT_TYPE = "pulumi:pulumi:Stack"


def resource_step(event: auto.EngineEvent) -> ResourceStep | None:
    """The step an engine event announces, if it announces one."""
    if event.resource_pre_event is None:
        return None
    metadata = event.resource_pre_event.metadata
    detailed = metadata.detailed_diff or {}
    return ResourceStep(
        op=str(metadata.op.value),
        urn=metadata.urn,
        type=metadata.type,
        fields=tuple(detailed) or tuple(metadata.diffs or ()),
        replacing_fields=tuple(key for key, diff in detailed.items() if diff.diff_kind.value.endswith("-replace")),
        retained=bool(metadata.old and metadata.old.retain_on_delete),
    )


class StackEvents:
    """What one operation's event stream says: its resource changes and the stack's outputs (secrets masked)."""

    def __init__(self) -> None:
        self.changes: Mapping[Any, int] | None = None
        self.outputs: dict[str, Any] = {}

    def record(self, event: auto.EngineEvent) -> None:
        if event.summary_event is not None:
            self.changes = dict(event.summary_event.resource_changes)
        finished = event.res_outputs_event
        if finished is not None and finished.metadata.type == ROOT_TYPE and finished.metadata.new is not None:
            self.outputs = dict(finished.metadata.new.outputs or {})

    @property
    def plain_outputs(self) -> dict[str, Any]:
        """The outputs without the secret ones (the stream shows those as an object with a masked ciphertext)."""
        return {key: value for key, value in self.outputs.items() if not _masked_secret(value)}


def _masked_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIGNATURE in value

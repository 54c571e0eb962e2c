"""Where kopf keeps a Database's last handled spec, built without copying what it throws away.

kopf compares each event's "essence" (spec, labels, annotations and the handlers' extra fields) with the one it
stored after the last handling. To build it, kopf's DiffBaseStorage deep-copies the whole object and then drops
`metadata` and `status`: on every event of every Database, which is every status patch. A Database's status
(instances, conditions, outputs, plan) and `metadata.managedFields` are most of the object, and that copy was a fifth
of the operator's own CPU while Databases were created (py-spy, README "Benchmark"). This builds the same essence
from the object without them.
"""

from collections.abc import Iterable
from typing import Any, cast

import kopf

DROPPED_METADATA = ("managedFields",)
"""Never part of an essence: kopf keeps only labels and annotations of `metadata`."""


def _top(field: Any) -> str:
    """The first key of a kopf field spec: `"status.x"`, `("status", "x")` or `["status", "x"]`."""
    return field.split(".", 1)[0] if isinstance(field, str) else str(field[0])


class LeanAnnotationsDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        extra = list(extra_fields or ())
        lean: dict[str, Any] = {key: value for key, value in body.items() if key not in ("metadata", "status")}
        if any(_top(field) == "status" for field in extra):
            lean["status"] = body.get("status")
        metadata = body.get("metadata") or {}
        lean["metadata"] = {key: value for key, value in metadata.items() if key not in DROPPED_METADATA}
        return super().build(body=kopf.Body(cast(kopf.RawBody, lean)), extra_fields=extra)

"""Review of a proposed change: Database YAML in, the plan of what the operator would do with it out.

Nothing changes: not the stack, not its configuration, not the cluster. The proposed spec goes through the
same defaulting and rules as admission (against the stored Database, when there is one), then a preview of
it runs against the live stack (`Stacks.preview_proposed`).
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from database_api.crd import GROUP
from database_api.spec import SpecError
from database_operator.admission import admission_errors, defaulted_spec
from database_operator.admission_safety import safety_errors
from database_operator.apply import stack_input, with_live_passwords
from database_operator.backups import BackupNotReady, resolve_restore
from database_operator.plan import Plan, build_plan
from database_operator.runtime import Runtime
from database_operator.storage import growth_notes


class ProposalError(ValueError):
    """The input is not a Database manifest."""


@dataclass(frozen=True)
class ProposedDatabase:
    namespace: str
    name: str
    spec: Mapping[str, Any]

    @property
    def title(self) -> str:
        return f"Database {self.namespace}/{self.name}"


def _proposal(document: object, position: int, default_namespace: str) -> ProposedDatabase:
    where = f"document {position}"
    if not isinstance(document, dict):
        raise ProposalError(f"{where}: not a Kubernetes object")
    if document.get("kind") != "Database" or str(document.get("apiVersion", "")).split("/")[0] != GROUP:
        raise ProposalError(
            f"{where}: kind/apiVersion must be Database/{GROUP}/v1 "
            f"(got {document.get('kind')}/{document.get('apiVersion')})"
        )
    metadata = document.get("metadata") or {}
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not name:
        raise ProposalError(f"{where}: metadata.name is required")
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise ProposalError(f"Database {name}: spec is required")
    return ProposedDatabase(namespace=metadata.get("namespace") or default_namespace, name=str(name), spec=spec)


def proposed_databases(text: str, default_namespace: str) -> list[ProposedDatabase]:
    """Every Database in a (multi-document) YAML text; raise ProposalError naming what is wrong."""
    try:
        documents = [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as error:
        raise ProposalError(f"not valid YAML: {error}") from error
    if not documents:
        raise ProposalError("no Database in the input")
    return [_proposal(document, position, default_namespace) for position, document in enumerate(documents, 1)]


async def review(rt: Runtime, proposed: ProposedDatabase) -> Plan:
    """The plan for a proposed Database: what `pulumi up` would do if it were applied now. Raises SpecError
    (naming each field) when admission would refuse it, StackError when the preview fails."""
    stored = await rt.kube.read_database(proposed.namespace, proposed.name)
    old_spec = stored.get("spec") if stored else None
    spec = defaulted_spec(proposed.spec, rt.stacks_config, old_spec) or dict(proposed.spec)
    errors = admission_errors(spec, old_spec, rt.stacks_config) or await safety_errors(
        rt.kube, proposed.namespace, proposed.name, spec, old_spec
    )
    if errors:
        raise SpecError(errors)
    recorded = (stored.get("status") or {}).get("restoredFrom") if stored else None
    try:
        restored_from = await resolve_restore(rt, proposed.namespace, spec, recorded)
    except BackupNotReady as waiting:
        raise SpecError([f"spec.restore.backup: {waiting}"]) from waiting
    uid = stored["metadata"].get("uid") if stored else None
    request = await with_live_passwords(
        rt, stack_input(rt, proposed.namespace, proposed.name, spec, restored_from, uid)
    )
    result = await asyncio.to_thread(rt.stacks.preview_proposed, request)
    plan = build_plan(result.steps, request.deletes_volumes)
    return replace(plan, notes=growth_notes(old_spec or {}, spec))

"""Generate the CustomResourceDefinitions (Database, DatabaseBackup) from the pydantic models and `stacks-config/`.

`crds/database.yaml` is this module's output; a test fails when the committed file is stale.
Regenerate with `database-operator crd --write`.
"""

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from database_api.backup import BACKUP_KIND, BACKUP_PLURAL, DatabaseBackupSpec, DatabaseBackupStatus
from database_api.name_rules import name_schema
from database_api.profiles import StacksConfig
from database_api.spec import DatabaseSpec
from database_api.status import DatabaseStatus
from database_api.transitions import transition_rules

GROUP = "database.example.com"
VERSION = "v1"
KIND = "Database"
PLURAL = "databases"
CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "database.yaml"

# Keywords of pydantic's JSON Schema that a structural OpenAPI v3 schema keeps as they are.
_KEPT = {
    "type",
    "description",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "maxItems",
    "maxProperties",
    "pattern",
    "required",
    "default",
    "x-kubernetes-validations",
    "x-kubernetes-int-or-string",
}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A pydantic model's JSON Schema rewritten as a Kubernetes structural schema: refs inlined,
    `X | None` as plain X, titles dropped, null defaults dropped."""
    document = model.model_json_schema(by_alias=True, mode="validation")
    definitions = document.get("$defs", {})

    def convert(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            result = convert(definitions[node["$ref"].split("/")[-1]])
        elif "anyOf" in node:
            choices = [choice for choice in node["anyOf"] if choice.get("type") != "null"]
            if len(choices) != 1:
                raise ValueError(f"cannot express anyOf {node['anyOf']} in a structural schema")
            result = convert(choices[0])
        else:
            result = {}
            if "properties" in node:
                result["properties"] = {name: convert(child) for name, child in node["properties"].items()}
            if "items" in node:
                result["items"] = convert(node["items"])
            if isinstance(node.get("additionalProperties"), dict):
                result["additionalProperties"] = convert(node["additionalProperties"])
        # copies: a schema shared by two fields (an enum's values) would otherwise become a YAML alias
        result.update({key: copy.deepcopy(value) for key, value in node.items() if key in _KEPT})
        if "default" in result and result["default"] is None:
            del result["default"]
        if result.get("x-kubernetes-int-or-string"):
            result.pop("type", None)
        return result

    return convert(document)


def _spec_rules(config: StacksConfig) -> list[dict[str, str]]:
    """The business rules of `stacks-config/` as CEL, so the API server enforces them even with no webhook."""
    rules: list[dict[str, str]] = []
    for environment, profile in config.environments.items():
        name = environment.value
        if profile.min_replicas > 1:
            rules.append(
                {
                    "rule": f"self.environment != '{name}' || !has(self.replicas) "
                    f"|| self.replicas >= {profile.min_replicas}",
                    # A static message: the API server's cost estimate rejects string(self.replicas).
                    "message": f"{name} requires at least {profile.min_replicas} replicas",
                    "fieldPath": ".replicas",
                    "reason": "FieldValueInvalid",
                }
            )
        if profile.require_resource_limits:
            rules.append(
                {
                    "rule": f"self.environment != '{name}' || !has(self.resources) || "
                    "(has(self.resources.limits) && has(self.resources.limits.cpu) "
                    "&& has(self.resources.limits.memory))",
                    "message": f"{name} requires resource limits (cpu and memory)",
                    "fieldPath": ".resources.limits",
                    "reason": "FieldValueRequired",
                }
            )
    return rules


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    description: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    subresources: dict[str, Any],
    columns: list[dict[str, Any]],
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": metadata or {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": subresources,
                    "additionalPrinterColumns": [
                        *columns,
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


def database_crd(config: StacksConfig) -> dict[str, Any]:
    spec = structural_schema(DatabaseSpec)
    spec["x-kubernetes-validations"] = _spec_rules(config) + transition_rules()
    return _crd(
        KIND,
        PLURAL,
        ["db"],
        "A MySQL or PostgreSQL database run by the database operator, one Pulumi stack per Database.",
        spec,
        structural_schema(DatabaseStatus),
        {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        [
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Environment", "type": "string", "jsonPath": ".spec.environment"},
            {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Plan", "type": "string", "jsonPath": ".status.plan.id", "priority": 1},
        ],
        metadata=name_schema(),
    )


def database_backup_crd() -> dict[str, Any]:
    return _crd(
        BACKUP_KIND,
        BACKUP_PLURAL,
        ["dbbackup"],
        "One backup of a Database, taken when the object is created, with the Database's own backup script.",
        structural_schema(DatabaseBackupSpec),
        structural_schema(DatabaseBackupStatus),
        {"status": {}},
        [
            {"name": "Database", "type": "string", "jsonPath": ".spec.database"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Artifact", "type": "string", "jsonPath": ".status.artifact"},
            {"name": "Size", "type": "integer", "jsonPath": ".status.sizeBytes"},
            {"name": "Completed", "type": "date", "jsonPath": ".status.completionTime"},
        ],
    )


def peering_crd() -> dict[str, Any]:
    """kopf's ClusterKopfPeering: the object the operator processes elect their leader on (the operator's
    leadership.py). Its status holds one entry per live process; kopf writes it."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "clusterkopfpeerings.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "scope": "Cluster",
            "names": {"kind": "ClusterKopfPeering", "plural": "clusterkopfpeerings", "singular": "clusterkopfpeering"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                        }
                    },
                }
            ],
        },
    }


def render_crd(config: StacksConfig) -> str:
    """The CustomResourceDefinitions the operator needs, as one multi-document file."""
    header = (
        "# Generated from the pydantic models and stacks-config/ by `database-operator crd --write`. Do not edit.\n"
    )
    documents = [database_crd(config), database_backup_crd(), peering_crd()]
    return header + yaml.safe_dump_all(documents, sort_keys=False, width=120)

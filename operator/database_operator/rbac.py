"""The operator's RBAC, generated in one of two modes (`database-operator rbac`; deploy/rbac.yaml is the
cluster-wide one).

- Cluster-wide: one ClusterRole, bound cluster-wide, for Databases in every namespace.
- Namespaced (`--namespaces a,b`): a Role and RoleBinding in each served namespace for everything a Database
  is made of, and a small ClusterRole for what the operator needs whatever it serves. Outside the served
  namespaces the service account can read no Secret, change no pod and create no workload.

In both modes the operator may not create webhook configurations (RBAC cannot limit creation to one name):
the two it uses are part of this output, created at install time, and the operator only reads and patches
those two, by name.
"""

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from database_api.backup import BACKUP_PLURAL
from database_api.crd import GROUP, PLURAL
from database_operator.leadership import PEERING_GROUP, PEERING_NAME, PEERING_PLURAL
from database_operator.webhooks import CONFIGURATION_NAME, NAMESPACE_NAME

RBAC_FILE = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
Rule = dict[str, list[str]]


def _rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> Rule:
    rule = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    return {**rule, "resourceNames": names} if names else rule


CLUSTER_RULES: list[tuple[str, Rule]] = [
    ("kopf finds the Database kinds and notices when their CRD changes.",
     _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get", "list", "watch"])),
    ("A size increase the StorageClass cannot make is refused (storage.py); cluster-scoped.",
     _rule(["storage.k8s.io"], ["storageclasses"], ["get", "list"])),
    ("Leader election (leadership.py): the first operator creates the ClusterKopfPeering, kopf watches it and "
     "every process keeps itself alive in it, by name.",
     _rule([PEERING_GROUP], [PEERING_PLURAL], ["list", "watch", "create"])),
    ("", _rule([PEERING_GROUP], [PEERING_PLURAL], ["get", "patch"], [PEERING_NAME])),
    ("kopf lists and watches namespaces to match DBOP_NAMESPACES (patterns like team-*, or served namespaces "
     "made later); a namespace's name and labels, nothing in it.",
     _rule([""], ["namespaces"], ["get", "list", "watch"])),
    ("Only its own two webhook configurations (created with this file), read and patched with its CA and "
     "address: no create, which RBAC could not limit to a name.",
     _rule(["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
           ["get", "patch"], [CONFIGURATION_NAME])),
]  # fmt: skip
"""What the operator needs whatever namespaces it serves, each with why."""

ALL = ["get", "list", "watch", "create", "update", "patch", "delete"]
PULUMI_DELETES = (
    "Pulumi's Kubernetes provider waits for each object it deletes to be gone through an informer, which "
    "lists and watches that kind (and Events) in the namespace and blocks until it may: so the kinds Pulumi "
    "deletes need list and watch."
)

SERVED_RULES: list[tuple[str, Rule]] = [
    ("Databases: watched, finalizer and kopf's progress annotations patched, status written.",
     _rule([GROUP], [PLURAL, BACKUP_PLURAL], ["get", "list", "watch", "patch", "update"])),
    ("", _rule([GROUP], [f"{PLURAL}/status", f"{BACKUP_PLURAL}/status"], ["get", "patch", "update"])),
    ("What the Pulumi program declares; StatefulSets, Services and ConfigMaps are also watched for drift. "
     + PULUMI_DELETES,
     _rule(["apps"], ["statefulsets"], ALL)),
    ("", _rule([""], ["services", "configmaps", "persistentvolumeclaims"], ALL)),
    ("Secrets: a Database's credentials, written by Pulumi and read by the operator one by one; never listed, "
     "watched or deleted (Pulumi leaves them to the garbage collector: program/database_program/protection.py).",
     _rule([""], ["secrets"], ["get", "create", "update", "patch"])),
    ("", _rule(["batch"], ["cronjobs"], ALL)),
    ("", _rule(["policy"], ["poddisruptionbudgets"], ALL)),
    ("", _rule(["networking.k8s.io"], ["networkpolicies"], ALL)),
    ("", _rule(["monitoring.coreos.com"], ["servicemonitors"], ALL)),
    ("Backup Jobs: watched for lastBackup, created from the CronJob for an on-demand backup, deleted before "
     "the stack is destroyed.",
     _rule(["batch"], ["jobs"], ["get", "list", "watch", "create", "delete", "deletecollection"])),
    ("Database pods: watched for status.instances and failover, patched to label each with its role (the "
     "Services select by it), and an old primary deleted after a failover, so that it comes back as a replica. "
     "Backup pods' termination messages are read.",
     _rule([""], ["pods"], ["get", "list", "watch", "patch", "delete"])),
    ("Failover and switchover steps (ha-<engine>.sh: position, fence, promote, follow) run in the database "
     "pods' server containers, as their superuser on the local socket: the operator never holds a database "
     "password, and the database never takes the superuser over the network. No other rights on pods.",
     _rule([""], ["pods/exec"], ["create", "get"])),
    ("Events on the Databases; Pulumi watches Events while it waits.",
     _rule(["", "events.k8s.io"], ["events"], ["get", "list", "watch", "create", "patch"])),
]  # fmt: skip
"""Everything a Database is made of, in a namespace the operator serves, each with why."""


class NamespaceError(ValueError):
    pass


def served_namespaces(listed: str) -> list[str]:
    """The served namespaces from a comma-separated list: exact names, since RBAC is granted per namespace."""
    names = [name.strip() for name in listed.split(",") if name.strip()]
    if not names:
        raise NamespaceError("--namespaces: no namespace given")
    for name in names:
        if not NAMESPACE_NAME.fullmatch(name):
            raise NamespaceError(f"--namespaces: {name!r} is not a namespace name (RBAC is granted per namespace)")
    return list(dict.fromkeys(names))


def _rules(described: list[tuple[str, Rule]]) -> list[Rule]:
    return [rule for _, rule in described]


@dataclass(frozen=True)
class Account:
    """The operator's ServiceAccount; its roles and bindings carry its name."""

    namespace: str = "database-operator"
    name: str = "database-operator"


def service_account(given: str) -> Account:
    """`namespace/name` as --service-account takes it."""
    namespace, _, name = given.partition("/")
    if not (NAMESPACE_NAME.fullmatch(namespace) and NAMESPACE_NAME.fullmatch(name)):
        raise NamespaceError(f"--service-account: {given!r} is not <namespace>/<name>")
    return Account(namespace, name)


def _binding(account: Account, kind: str, role_kind: str, namespace: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": account.name, **({"namespace": namespace} if namespace else {})},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": account.name},
        "subjects": [{"kind": "ServiceAccount", "name": account.name, "namespace": account.namespace}],
    }


def manifests(namespaces: list[str] | None, account: Account = Account()) -> list[dict[str, Any]]:
    """The ServiceAccount, roles and bindings, and the webhook configurations: cluster-wide when `namespaces`
    is None, else for exactly those namespaces."""
    cluster_rules = _rules(CLUSTER_RULES)
    if namespaces is None:
        cluster_rules += _rules(SERVED_RULES)
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account.name, "namespace": account.namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": account.name},
            "rules": cluster_rules,
        },
        _binding(account, "ClusterRoleBinding", "ClusterRole"),
    ]
    for namespace in namespaces or []:
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": account.name, "namespace": namespace},
                "rules": _rules(SERVED_RULES),
            }
        )
        objects.append(_binding(account, "RoleBinding", "Role", namespace))
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        # No webhooks: the operator fills them in. Applying this again leaves them as they are.
        objects.append(
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": CONFIGURATION_NAME}}
        )
    return objects


def _why(described: list[tuple[str, Rule]]) -> list[str]:
    return [
        line
        for why, _ in described
        if why
        for line in textwrap.wrap(why, 116, initial_indent="#   - ", subsequent_indent="#     ")
    ]


def render(namespaces: list[str] | None, account: Account = Account()) -> str:
    """The manifests as one YAML stream, headed by what each rule is for."""
    mode = "cluster-wide" if namespaces is None else f"namespaced: {', '.join(namespaces)}"
    command = "database-operator rbac" + ("" if namespaces is None else f" --namespaces {','.join(namespaces)}")
    if account != Account():
        command += f" --service-account {account.namespace}/{account.name}"
    served = "every namespace" if namespaces is None else "each served namespace (Role + RoleBinding)"
    header = [
        f"# The operator's service account and its least-privilege RBAC ({mode}).",
        f"# Generated by `{command}` (operator/database_operator/rbac.py): do not edit.",
        "# Cluster-scoped, whatever it serves:",
        *_why(CLUSTER_RULES),
        f"# In {served}:",
        *_why(SERVED_RULES),
    ]
    body = yaml.safe_dump_all(manifests(namespaces, account), sort_keys=False, default_flow_style=None, width=120)
    return "\n".join(header) + "\n" + body

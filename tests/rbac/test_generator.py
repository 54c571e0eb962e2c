"""`database-operator rbac`: what each mode grants, and deploy/rbac.yaml staying what the generator makes."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from database_operator import cli, rbac
from database_operator.rbac import Account, manifests, render

WORKLOADS = {"statefulsets", "jobs", "cronjobs", "pods", "secrets", "services", "configmaps", "persistentvolumeclaims"}


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind]


def resources(rules: list[dict[str, Any]], verb: str | None = None) -> set[str]:
    return {resource for rule in rules if verb is None or verb in rule["verbs"] for resource in rule["resources"]}


def test_deploy_rbac_is_what_the_generator_makes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rbac", "--check"]) == 0, "deploy/rbac.yaml is stale: run `database-operator rbac --write`"
    assert rbac.RBAC_FILE.read_text() == render(None)
    assert cli.main(["rbac"]) == 0
    assert capsys.readouterr().out == render(None)


def test_a_stale_deploy_rbac_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "rbac.yaml"
    stale.write_text(render(None).replace("deletecollection", "deletecollection, escalate"))
    monkeypatch.setattr(rbac, "RBAC_FILE", stale)
    assert cli.main(["rbac", "--check"]) == 1
    assert cli.main(["rbac", "--write"]) == 0
    assert stale.read_text() == render(None)


def test_namespaced_mode_grants_the_workloads_only_in_the_served_namespaces() -> None:
    objects = manifests(["shop", "billing"], Account("ops", "dbop"))
    [cluster_role] = by_kind(objects, "ClusterRole")
    assert not resources(cluster_role["rules"]) & WORKLOADS
    roles = by_kind(objects, "Role")
    assert [role["metadata"]["namespace"] for role in roles] == ["shop", "billing"]
    for role in roles:
        assert {"statefulsets", "secrets", "jobs", "pods"} <= resources(role["rules"], "get")
    bindings = by_kind(objects, "RoleBinding")
    assert [binding["metadata"]["namespace"] for binding in bindings] == ["shop", "billing"]
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dbop"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "dbop", "namespace": "ops"}]
    assert not by_kind(manifests(None), "Role")


@pytest.mark.parametrize("namespaces", [None, ["shop"]], ids=["cluster-wide", "namespaced"])
def test_what_neither_mode_grants(namespaces: list[str] | None) -> None:
    objects = manifests(namespaces)
    rules = [rule for role in by_kind(objects, "ClusterRole") + by_kind(objects, "Role") for rule in role["rules"]]
    assert "pods/proxy" not in resources(rules)
    # Pods are deleted only to fence an old primary after a failover (it comes back as a replica); exec runs the
    # failover steps in database pods: neither reaches a volume or a Secret.
    assert "pods" not in resources(rules, "update") | resources(rules, "create")
    assert "pods/exec" in resources(rules, "create") and "pods/attach" not in resources(rules)
    assert "secrets" not in resources(rules, "list") | resources(rules, "watch") | resources(rules, "delete")
    assert not resources(rules) & {"roles", "rolebindings", "clusterroles", "clusterrolebindings", "serviceaccounts"}
    assert not {verb for rule in rules for verb in rule["verbs"]} & {"escalate", "bind", "impersonate"}
    webhook_kinds = {"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}
    webhook_rules = [rule for rule in rules if webhook_kinds & set(rule["resources"])]
    assert webhook_rules and all(
        rule["verbs"] == ["get", "patch"] and rule["resourceNames"] == ["database.example.com"]
        for rule in webhook_rules
    )
    assert not any({"*"} & set(rule["verbs"] + rule["resources"] + rule["apiGroups"]) for rule in rules)
    # What the operator may not create, the install creates: its two webhook configurations.
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        [configuration] = by_kind(objects, kind)
        assert configuration["metadata"] == {"name": "database.example.com"} and "webhooks" not in configuration


def test_cluster_wide_mode_binds_one_cluster_role_cluster_wide() -> None:
    objects = manifests(None)
    [cluster_role] = by_kind(objects, "ClusterRole")
    assert resources(cluster_role["rules"]) >= WORKLOADS
    [binding] = by_kind(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"] == "database-operator"
    [account] = by_kind(objects, "ServiceAccount")
    assert account["metadata"] == {"name": "database-operator", "namespace": "database-operator"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", **account["metadata"]}]


def test_the_output_is_one_valid_yaml_stream_saying_how_it_was_made() -> None:
    text = render(["shop", "billing"])
    assert "database-operator rbac --namespaces shop,billing" in text.splitlines()[1]
    assert list(yaml.safe_load_all(text)) == manifests(["shop", "billing"])


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ("team-*", "--namespaces: 'team-*' is not a namespace name"),
        ("Shop", "--namespaces: 'Shop' is not a namespace name"),
        (" , ", "--namespaces: no namespace given"),
    ],
)
def test_namespaces_that_rbac_cannot_grant_are_refused_naming_the_option(
    listed: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["rbac", "--namespaces", listed]) == 1
    assert message in capsys.readouterr().err


def test_a_service_account_is_namespace_slash_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rbac", "--service-account", "dbop"]) == 1
    assert "--service-account: 'dbop' is not <namespace>/<name>" in capsys.readouterr().err
    assert cli.main(["rbac", "--service-account", "ops/dbop"]) == 0
    assert "--service-account ops/dbop" in capsys.readouterr().out.splitlines()[1]


def test_namespaces_are_listed_once_in_order_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rbac", "--namespaces", "shop, billing,shop"]) == 0
    roles = by_kind(list(yaml.safe_load_all(capsys.readouterr().out)), "Role")
    assert [role["metadata"]["namespace"] for role in roles] == ["shop", "billing"]


def test_deploy_rbac_holds_only_the_cluster_wide_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rbac", "--namespaces", "shop", "--check"]) == 1
    assert "drop --namespaces and --service-account" in capsys.readouterr().err

"""The generated RBAC on a real API server, in both modes: `kubectl auth can-i --as` the operator's service
account shows what it may not do, and the operator run with only that account's token (a TokenRequest) takes
a Database through its whole life, which shows the RBAC is enough."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from database_operator.rbac import Account, render
from tests.e2e.cluster import Kubectl, OperatorProcess, wait_for
from tests.e2e.conftest import running_operator
from tests.e2e.databases import BACKUP, backup_phase, database, database_backup, wait_ready, wait_statefulset

WEBHOOK_CONFIGURATION = "database.example.com"


@dataclass(frozen=True)
class Install:
    """The RBAC of one mode, applied for a service account of its own (never the deployed operator's)."""

    account: Account
    served: list[str]
    """Namespaces the operator serves; in namespaced mode the only ones it has rights in."""
    elsewhere: str
    """A namespace it does not serve."""
    namespaces_setting: str
    """DBOP_NAMESPACES for the operator."""

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.account.namespace}:{self.account.name}"


def can(kubectl: Kubectl, install: Install, verb: str, resource: str, namespace: str | None = None) -> bool:
    """`resource` is a kind (pods), one object (pods/orders-0) or a subresource (pods//proxy)."""
    resource, _, subresource = resource.partition("//")
    where = ["-n", namespace] if namespace else []
    options = [*where, *([f"--subresource={subresource}"] if subresource else [])]
    answer = kubectl.run("auth", "can-i", verb, resource, *options, "--as", install.user, check=False)
    assert answer.stdout.strip() in ("yes", "no"), answer.stderr
    return answer.stdout.strip() == "yes"


def _namespace(kubectl: Kubectl, name: str) -> None:
    """Pods go to kwok's fake nodes: Ready at once, Jobs done in a second."""
    annotations = {"scheduler.alpha.kubernetes.io/node-selector": "type=kwok"}
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "annotations": annotations}})


def _install(kubectl: Kubectl, mode: str) -> Iterator[Install]:
    prefix = f"rbac-{uuid.uuid4().hex[:6]}"
    served, elsewhere = [f"{prefix}-a", f"{prefix}-b"], f"{prefix}-other"
    account = Account(namespace=f"{prefix}-operator", name=f"dbop-{prefix}-{mode}")
    install = Install(
        account=account,
        served=served,
        elsewhere=elsewhere,
        namespaces_setting=",".join(served) if mode == "namespaced" else f"{prefix}-*",
    )
    for name in [*served, elsewhere, account.namespace]:
        _namespace(kubectl, name)
    kubectl.run("apply", "--server-side", "-f", "-", stdin=render(served if mode == "namespaced" else None, account))
    yield install
    for name in [*served, elsewhere, account.namespace]:
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)
    kubectl.run("delete", "clusterrolebinding,clusterrole", account.name, "--ignore-not-found")


@pytest.fixture(scope="module")
def namespaced(kubectl: Kubectl) -> Iterator[Install]:
    yield from _install(kubectl, "namespaced")


@pytest.fixture(scope="module")
def cluster_wide(kubectl: Kubectl) -> Iterator[Install]:
    yield from _install(kubectl, "cluster-wide")


def test_namespaced_rbac_grants_nothing_outside_the_served_namespaces(kubectl: Kubectl, namespaced: Install) -> None:
    served, elsewhere = namespaced.served[0], namespaced.elsewhere
    # What the operator does with a Database, it may do where it serves...
    for verb, resource in [("get", "secrets"), ("patch", "pods"), ("create", "statefulsets"), ("create", "jobs")]:
        assert can(kubectl, namespaced, verb, resource, served), f"{verb} {resource} in {served}"
    # ...and nowhere else: no Secret read, no pod changed, no workload created.
    for verb, resource in [
        ("get", "secrets"),
        ("list", "secrets"),
        ("patch", "pods"),
        ("create", "statefulsets"),
        ("create", "jobs"),
        ("create", "cronjobs"),
        ("create", "pods"),
        ("create", "deployments"),
    ]:
        assert not can(kubectl, namespaced, verb, resource, elsewhere), f"{verb} {resource} in {elsewhere}"
        assert not can(kubectl, namespaced, verb, resource, "kube-system"), f"{verb} {resource} in kube-system"


@pytest.mark.parametrize("mode", ["namespaced", "cluster_wide"])
def test_neither_mode_may_create_webhook_configurations_or_reach_pods_through_the_api_server(
    kubectl: Kubectl, mode: str, request: pytest.FixtureRequest
) -> None:
    install: Install = request.getfixturevalue(mode)
    for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        assert not can(kubectl, install, "create", kind)
        assert not can(kubectl, install, "patch", f"{kind}/someone-elses")
        assert not can(kubectl, install, "list", kind)
        assert can(kubectl, install, "patch", f"{kind}/{WEBHOOK_CONFIGURATION}")
    assert can(kubectl, install, "patch", "databases.database.example.com//status", install.served[0])
    assert can(kubectl, install, "patch", "clusterkopfpeerings.kopf.dev/database-operator")
    assert not can(kubectl, install, "patch", "clusterkopfpeerings.kopf.dev/someone-elses")
    for namespace in (install.served[0], "kube-system"):
        assert not can(kubectl, install, "get", "pods//proxy", namespace)
        assert not can(kubectl, install, "update", "pods", namespace)
        assert not can(kubectl, install, "list", "secrets", namespace)
        assert not can(kubectl, install, "delete", "secrets", namespace)


def _token_kubeconfig(kubectl: Kubectl, install: Install, path: Path) -> Path:
    """A kubeconfig holding nothing but a token of the install's service account."""
    token = kubectl.run(
        "create", "token", install.account.name, "-n", install.account.namespace, "--duration=2h"
    ).stdout.strip()
    admin: dict[str, Any] = json.loads(kubectl.run("config", "view", "--raw", "--minify", "-o", "json").stdout)
    [cluster] = admin["clusters"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": install.account.name, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": cluster["name"], "user": install.account.name}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _webhook_ports(kubectl: Kubectl) -> set[int]:
    """The ports the mutating and validating webhooks are called at."""
    urls = []
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        found = kubectl.run("get", kind, WEBHOOK_CONFIGURATION, "-o", "json", check=False)
        if found.returncode == 0:
            urls += [hook["clientConfig"]["url"] for hook in json.loads(found.stdout)["webhooks"]]
    return {int(url.split(":")[2].split("/")[0]) for url in urls}


def _lifecycle(kubectl: Kubectl, namespace: str, operator_port: int) -> None:
    """Create (defaulted by the webhooks), scale, update, back up, delete."""
    # Until the operator has configured the webhooks for itself, they point at the operator before it (stopped).
    wait_for("the webhooks to point at this operator", lambda: _webhook_ports(kubectl) == {operator_port})
    kubectl.apply(database("shop", namespace, backup=BACKUP))
    db = wait_ready(kubectl, "shop", namespace)
    assert db["spec"]["environment"] == "development"  # the mutating webhook the operator configured answered
    validating = json.loads(
        kubectl.run("get", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "-o", "json").stdout
    )
    assert [hook["clientConfig"]["url"] for hook in validating["webhooks"]] == [
        f"https://127.0.0.1:{operator_port}/rules"
    ]

    kubectl.run("scale", "db/shop", "-n", namespace, "--replicas=2")
    wait_statefulset(kubectl, "shop", namespace, replicas=2)
    kubectl.run("patch", "db", "shop", "-n", namespace, "--type=merge", "-p", '{"spec":{"version":"8.4"}}')
    image = "jsonpath={.spec.template.spec.containers[0].image}=mysql:8.4"
    kubectl.run("wait", f"--for={image}", "statefulset/shop", "-n", namespace, "--timeout=60s")
    assert wait_ready(kubectl, "shop", namespace)["status"]["replicas"] == 2

    kubectl.apply(database_backup("now", namespace, "shop"))
    wait_for("DatabaseBackup now to succeed", lambda: backup_phase(kubectl, "now", namespace, "Succeeded"))

    kubectl.run("delete", "db", "shop", "-n", namespace, "--timeout=120s")
    # Deleted by the destroy, which does not wait for the StatefulSet controller to let it go (its pods first).
    wait_for("the StatefulSet to be deleted", lambda: kubectl.get("statefulset", "shop", namespace) is None, timeout=60)
    # Pulumi leaves the Secrets to the garbage collector (their ownerReference): the operator may not delete them.
    for secret in ("shop-credentials", "shop-replication"):
        wait_for(
            f"Secret {secret} to be deleted", lambda secret=secret: kubectl.get("secret", secret, namespace) is None
        )


@pytest.mark.parametrize("mode", ["namespaced", "cluster_wide"])
def test_the_operator_needs_nothing_more_than_its_rbac(
    kubectl: Kubectl,
    cluster_env: dict[str, str],
    operator: OperatorProcess,
    tmp_path: Path,
    mode: str,
    request: pytest.FixtureRequest,
) -> None:
    install: Install = request.getfixturevalue(mode)
    kubeconfig = _token_kubeconfig(kubectl, install, tmp_path / "kubeconfig")
    operator.stop()  # one leader at a time: the restricted operator would wait behind it
    try:
        restricted = running_operator(
            {**cluster_env, "KUBECONFIG": str(kubeconfig)}, tmp_path, install.namespaces_setting
        )
        try:
            _lifecycle(kubectl, install.served[-1], int(restricted.env["DBOP_WEBHOOK_PORT"]))
        finally:
            restricted.stop()
    finally:
        operator.start()  # configures the webhooks for itself again
    log = restricted.log_path.read_text(errors="replace")
    assert "Forbidden" not in log and "Traceback" not in log, f"see {restricted.log_path}"

"""The StatefulSet: image, data directory, config path, probes, resources, storage, security."""

import re

import pytest

from database_program.configmap import pod_files_options
from database_program.engines import script
from tests.program.conftest import Rendered, RenderSpec

MYSQL = {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}}
MARIADB = {"type": "mariadb", "version": "10.11", "storage": {"size": "10Gi"}}
POSTGRES = {"type": "postgresql", "version": "16", "storage": {"size": "20Gi"}}


def database_container(rendered: Rendered) -> dict:
    pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    return pod["containers"][0]


@pytest.mark.parametrize(
    ("spec", "image", "data_dir", "config_path", "port"),
    [
        (MYSQL, "mysql:8.0", "/var/lib/mysql", "/etc/mysql/conf.d/database.cnf", 3306),
        (MARIADB, "mariadb:10.11", "/var/lib/mysql", "/etc/mysql/conf.d/database.cnf", 3306),
        (POSTGRES, "postgres:16", "/var/lib/postgresql/data", "/etc/postgresql/postgresql.conf", 5432),
    ],
)
def test_engine_image_data_directory_and_config_path(
    render: RenderSpec, spec: dict, image: str, data_dir: str, config_path: str, port: int
) -> None:
    container = database_container(render(spec))
    assert container["image"] == image
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts[data_dir]["name"] == "data"
    assert mounts[config_path]["name"] == "config" and mounts[config_path]["readOnly"]
    assert container["ports"] == [{"name": spec["type"], "containerPort": port}]


def test_the_probes_get_the_admin_account_from_the_secret(render: RenderSpec) -> None:
    env = {item["name"]: item for item in database_container(render(MYSQL))["env"]}
    assert env["ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "orders-credentials", "key": "admin-password"}
    assert env["ADMIN_USER"]["valueFrom"]["secretKeyRef"] == {"name": "orders-credentials", "key": "admin-username"}


@pytest.mark.parametrize(
    ("spec", "tool"), [(MYSQL, "mysqladmin"), (MARIADB, "mariadb-admin"), (POSTGRES, "pg_isready")]
)
def test_liveness_runs_the_engine_client_and_readiness_a_script(render: RenderSpec, spec: dict, tool: str) -> None:
    rendered = render(spec)
    container = database_container(rendered)
    for probe in ("livenessProbe", "startupProbe"):
        assert any(tool in part for part in container[probe]["exec"]["command"]), probe
        assert "127.0.0.1" in " ".join(container[probe]["exec"]["command"])
    # Readiness depends on the role (a replica must replicate), so it is a script from the ConfigMap.
    ready = f"ready-{'postgresql' if spec['type'] == 'postgresql' else 'mysql'}.sh"
    assert container["readinessProbe"]["exec"]["command"] == ["sh", f"/scripts/{ready}"]
    assert rendered.get("ConfigMap", "orders-config")["data"][ready] == script(ready)
    assert {"name": "scripts", "mountPath": "/scripts", "readOnly": True} in container["volumeMounts"]


@pytest.mark.parametrize(
    ("environment", "requests", "limits"),
    [
        ("development", {"cpu": "100m", "memory": "256Mi"}, {"cpu": "500m", "memory": "512Mi"}),
        ("staging", {"cpu": "200m", "memory": "512Mi"}, {"cpu": "1000m", "memory": "1Gi"}),
        ("production", {"cpu": "500m", "memory": "1Gi"}, {"cpu": "2000m", "memory": "4Gi"}),
    ],
)
def test_resources_default_per_environment(render: RenderSpec, environment: str, requests: dict, limits: dict) -> None:
    container = database_container(render({**MYSQL, "environment": environment}))
    assert container["resources"] == {"requests": requests, "limits": limits}


def test_explicit_resources_replace_the_environment_default(render: RenderSpec) -> None:
    resources = {"requests": {"cpu": "250m", "memory": "300Mi"}, "limits": {"cpu": 1, "memory": "600Mi"}}
    container = database_container(render({**MYSQL, "resources": resources}))
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "300Mi"},
        "limits": {"cpu": "1", "memory": "600Mi"},
    }


def test_explicit_requests_without_limits_get_no_made_up_limits(render: RenderSpec) -> None:
    container = database_container(render({**MYSQL, "resources": {"requests": {"cpu": "250m"}}}))
    assert container["resources"] == {"requests": {"cpu": "250m"}}


@pytest.mark.parametrize("storage_class", [None, "fast-ssd"])
def test_volume_claim_template_has_size_and_class(render: RenderSpec, storage_class: str | None) -> None:
    storage = {"size": "20Gi", **({"class": storage_class} if storage_class else {})}
    spec = render({**POSTGRES, "storage": storage}).get("StatefulSet", "orders")["spec"]
    [claim] = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "20Gi"}}
    assert claim["spec"].get("storageClassName") == storage_class
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_replicas_selector_and_service_name(render: RenderSpec) -> None:
    spec = render({**MYSQL, "replicas": 3}).get("StatefulSet", "orders")["spec"]
    assert spec["replicas"] == 3
    assert spec["serviceName"] == "orders-headless"
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert labels["app.kubernetes.io/managed-by"] == "database-operator"
    assert labels["app.kubernetes.io/version"] == "8.0"


def test_pods_run_as_non_root_with_a_read_only_root_filesystem(render: RenderSpec) -> None:
    pod = render(POSTGRES).get("StatefulSet", "orders")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}


def test_up_does_not_wait_for_pods_or_volumes(render: RenderSpec) -> None:
    rendered = render({**MYSQL, "backup": {"enabled": True}})
    for kind, name in [
        ("StatefulSet", "orders"),
        ("Service", "orders"),
        ("Service", "orders-headless"),
        ("PersistentVolumeClaim", "orders-backup"),
    ]:
        assert rendered.get(kind, name)["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true", (kind, name)


def test_a_config_change_rolls_the_pods_onto_a_new_immutable_config_map(render: RenderSpec) -> None:
    """The pods mount one ConfigMap, named by a hash of its content and never changed: a changed configuration is
    a new name in the pod template (a roll), and a pod of the old template keeps mounting its own files."""

    def mounted(environment: str) -> tuple[set[str], dict[str, object]]:
        rendered = render({**MYSQL, "environment": environment})
        volumes = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]["volumes"]
        names = {v["configMap"]["name"] for v in volumes if "configMap" in v and v["name"] in ("config", "scripts")}
        return names, rendered.get("ConfigMap", "orders-config")

    [development], config_map = mounted("development")
    assert config_map["metadata"]["name"] == development and config_map["immutable"] is True
    assert config_map["metadata"]["labels"]["app.kubernetes.io/component"] == "config"
    assert re.fullmatch(r"orders-config-[0-9a-f]{10}", development)
    [staging], _ = mounted("staging")
    assert staging != development
    assert mounted("development")[0] == {development}


def test_pulumi_never_deletes_a_pods_files_config_map() -> None:
    """Replaced by a new content, the old one stays for the old pods (the operator prunes it after the roll)."""
    assert pod_files_options().retain_on_delete is True


@pytest.mark.parametrize(
    ("environment", "policy", "when_deleted"),
    [
        ("development", None, "Delete"),
        ("production", None, "Retain"),
        ("production", "Delete", "Delete"),
        ("staging", "Retain", "Retain"),
    ],
)
def test_data_volumes_follow_the_deletion_policy(
    render: RenderSpec, environment: str, policy: str | None, when_deleted: str
) -> None:
    spec = {**MYSQL, "environment": environment, "replicas": 2, **({"deletionPolicy": policy} if policy else {})}
    retention = render(spec).get("StatefulSet", "orders")["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert retention == {"whenDeleted": when_deleted, "whenScaled": "Retain"}

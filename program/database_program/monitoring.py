"""Monitoring: a Prometheus exporter sidecar, and a ServiceMonitor where the cluster has that API."""

import yaml
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.core.v1 import (
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    ContainerPortArgs,
    EnvVarArgs,
    KeyToPathArgs,
    ResourceRequirementsArgs,
    VolumeArgs,
    VolumeMountArgs,
)

from database_program import engines, tls
from database_program.context import DatabaseContext
from database_program.security import container_security_context


def metrics_enabled(ctx: DatabaseContext) -> bool:
    return ctx.spec.monitoring.enabled and ctx.spec.monitoring.metrics


EXPORTER_QUERIES_FILE = "exporter-queries.yaml"
"""The key of the exporter's custom queries (stacks-config's `exporter.queries`) in the pods' files ConfigMap."""
EXPORTER_FILES_VOLUME = "exporter-files"


def exporter_files(ctx: DatabaseContext) -> dict[str, str]:
    """The exporter's files in the pods' files ConfigMap: the custom queries, for an exporter version that lacks
    a metric the status reads, and mysqld_exporter 0.15+'s client file naming the CA; none otherwise."""
    if not metrics_enabled(ctx):
        return {}
    files: dict[str, str] = {}
    queries = ctx.engine.exporter.queries
    if queries is not None:
        document = {name: query.model_dump(by_alias=True) for name, query in queries.items()}
        files[EXPORTER_QUERIES_FILE] = yaml.safe_dump(document, sort_keys=False)
    client_config = engines.exporter_client_config(ctx)
    if client_config is not None:
        files[engines.EXPORTER_CLIENT_FILE] = client_config
    return files


def exporter_files_volume(ctx: DatabaseContext, pod_files: str) -> VolumeArgs | None:
    """From the pods' files ConfigMap named `pod_files`."""
    files = exporter_files(ctx)
    if not files:
        return None
    items = [KeyToPathArgs(key=name, path=name) for name in files]
    return VolumeArgs(name=EXPORTER_FILES_VOLUME, config_map=ConfigMapVolumeSourceArgs(name=pod_files, items=items))


def exporter_container(ctx: DatabaseContext) -> ContainerArgs | None:
    if not metrics_enabled(ctx):
        return None
    env = engines.exporter_env(ctx)
    mounts = [tls.ca_mount()]  # every exporter verifies the server against the CA (engines.exporter_env)
    files = exporter_files(ctx)
    if EXPORTER_QUERIES_FILE in files:
        path = f"{engines.EXPORTER_CONFIG_DIRECTORY}/{EXPORTER_QUERIES_FILE}"
        env.append(EnvVarArgs(name="PG_EXPORTER_EXTEND_QUERY_PATH", value=path))
    if files:
        mounts.append(
            VolumeMountArgs(name=EXPORTER_FILES_VOLUME, mount_path=engines.EXPORTER_CONFIG_DIRECTORY, read_only=True)
        )
    return ContainerArgs(
        name="metrics",
        image=ctx.engine.exporter.image,
        args=engines.exporter_args(ctx),
        env=env,
        volume_mounts=mounts,
        ports=[ContainerPortArgs(name="metrics", container_port=ctx.engine.exporter.port)],
        resources=ResourceRequirementsArgs(
            requests={"cpu": "10m", "memory": "32Mi"}, limits={"cpu": "100m", "memory": "64Mi"}
        ),
        security_context=container_security_context(),
    )


def declare_service_monitor(ctx: DatabaseContext) -> CustomResource | None:
    if not (metrics_enabled(ctx) and ctx.service_monitor_available):
        return None
    return CustomResource(
        f"{ctx.name}-metrics",
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata=ctx.metadata(ctx.name, component="metrics"),
        spec={
            "selector": {"matchLabels": {**ctx.selector_labels, "app.kubernetes.io/component": "database"}},
            "endpoints": [{"port": "metrics", "interval": "30s"}],
        },
    )

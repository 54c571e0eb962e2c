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
EXPORTER_QUERIES_VOLUME = "exporter-queries"
EXPORTER_QUERIES_DIRECTORY = "/etc/exporter"


def exporter_queries(ctx: DatabaseContext) -> dict[str, str]:
    """The custom queries file, for an exporter version that lacks a metric the status reads; none otherwise."""
    queries = ctx.engine.exporter.queries
    if not metrics_enabled(ctx) or queries is None:
        return {}
    document = {name: query.model_dump(by_alias=True) for name, query in queries.items()}
    return {EXPORTER_QUERIES_FILE: yaml.safe_dump(document, sort_keys=False)}


def exporter_queries_volume(ctx: DatabaseContext, pod_files: str) -> VolumeArgs | None:
    """From the pods' files ConfigMap named `pod_files`."""
    if not exporter_queries(ctx):
        return None
    items = [KeyToPathArgs(key=EXPORTER_QUERIES_FILE, path=EXPORTER_QUERIES_FILE)]
    return VolumeArgs(name=EXPORTER_QUERIES_VOLUME, config_map=ConfigMapVolumeSourceArgs(name=pod_files, items=items))


def exporter_container(ctx: DatabaseContext) -> ContainerArgs | None:
    if not metrics_enabled(ctx):
        return None
    env = engines.exporter_env(ctx)
    # postgres_exporter verifies the server against the CA; mysqld_exporter cannot name one (engines.exporter_args).
    mounts = [] if engines.mysql_family(ctx) else [tls.ca_mount()]
    if exporter_queries(ctx):
        path = f"{EXPORTER_QUERIES_DIRECTORY}/{EXPORTER_QUERIES_FILE}"
        env.append(EnvVarArgs(name="PG_EXPORTER_EXTEND_QUERY_PATH", value=path))
        mounts.append(
            VolumeMountArgs(name=EXPORTER_QUERIES_VOLUME, mount_path=EXPORTER_QUERIES_DIRECTORY, read_only=True)
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

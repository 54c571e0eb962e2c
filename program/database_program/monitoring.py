"""Monitoring: a Prometheus exporter sidecar, and a ServiceMonitor where the cluster has that API."""

from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.core.v1 import ContainerArgs, ContainerPortArgs, ResourceRequirementsArgs

from database_program import engines
from database_program.context import DatabaseContext
from database_program.security import container_security_context


def metrics_enabled(ctx: DatabaseContext) -> bool:
    return ctx.spec.monitoring.enabled and ctx.spec.monitoring.metrics


def exporter_container(ctx: DatabaseContext) -> ContainerArgs | None:
    if not metrics_enabled(ctx):
        return None
    return ContainerArgs(
        name="metrics",
        image=ctx.engine.exporter.image,
        args=engines.exporter_args(ctx),
        env=engines.exporter_env(ctx),
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

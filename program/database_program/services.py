"""The client Services, `<name>` (read-write, the primary) and `<name>-ro` (read-only, the replicas), and the
headless Service that gives the StatefulSet's pods stable names."""

from pulumi_kubernetes.core.v1 import Service, ServicePortArgs, ServiceSpecArgs

from database_api.names import PRIMARY_ROLE, REPLICA_ROLE, ROLE_LABEL
from database_program.context import SKIP_AWAIT, DatabaseContext


def _ports(ctx: DatabaseContext) -> list[ServicePortArgs]:
    ports = [ServicePortArgs(name=ctx.spec.engine.value, port=ctx.engine.port, target_port=ctx.spec.engine.value)]
    if ctx.spec.monitoring.enabled and ctx.spec.monitoring.metrics:
        ports.append(ServicePortArgs(name="metrics", port=ctx.engine.exporter.port, target_port="metrics"))
    return ports


def _client_service(ctx: DatabaseContext, name: str, component: str, selector: dict[str, str]) -> Service:
    return Service(
        name,
        metadata=ctx.metadata(name, component=component, annotations=SKIP_AWAIT),
        spec=ServiceSpecArgs(type="ClusterIP", selector={**ctx.selector_labels, **selector}, ports=_ports(ctx)),
    )


def declare_client_service(ctx: DatabaseContext) -> Service:
    """Read-write: the primary, by the role label the operator puts on the one pod it made primary."""
    return _client_service(ctx, ctx.name, "database", {ROLE_LABEL: PRIMARY_ROLE})


def declare_read_only_service(ctx: DatabaseContext) -> Service:
    """Read-only: the replicas, by the role label the operator puts on them. No endpoints with one replica."""
    return _client_service(ctx, ctx.read_only_service_name, "read-only", {ROLE_LABEL: REPLICA_ROLE})


def declare_headless_service(ctx: DatabaseContext) -> Service:
    return Service(
        ctx.headless_service_name,
        metadata=ctx.metadata(ctx.headless_service_name, component="headless", annotations=SKIP_AWAIT),
        spec=ServiceSpecArgs(
            cluster_ip="None",
            # Peers must find each other before they are ready (replication, first start).
            publish_not_ready_addresses=True,
            selector=ctx.selector_labels,
            ports=_ports(ctx),
        ),
    )

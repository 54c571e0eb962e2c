"""The client Service `<name>` and the headless Service that gives the StatefulSet's pods stable names."""

from pulumi_kubernetes.core.v1 import Service, ServicePortArgs, ServiceSpecArgs

from database_program.context import SKIP_AWAIT, DatabaseContext


def _ports(ctx: DatabaseContext) -> list[ServicePortArgs]:
    ports = [ServicePortArgs(name=ctx.spec.engine.value, port=ctx.engine.port, target_port=ctx.spec.engine.value)]
    if ctx.spec.monitoring.enabled and ctx.spec.monitoring.metrics:
        ports.append(ServicePortArgs(name="metrics", port=ctx.engine.exporter.port, target_port="metrics"))
    return ports


def declare_client_service(ctx: DatabaseContext) -> Service:
    return Service(
        ctx.name,
        metadata=ctx.metadata(ctx.name, annotations=SKIP_AWAIT),
        spec=ServiceSpecArgs(type="ClusterIP", selector=ctx.selector_labels, ports=_ports(ctx)),
    )


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

"""The whole program: resolve one Database from stack configuration, declare its objects, export outputs."""

from typing import Any

import pulumi

from database_api.names import CONFIG_NAMESPACE
from database_api.network import OperatorPeers
from database_api.profiles import EngineProfile, EnvironmentProfile, StacksConfig
from database_api.spec import resolve_spec
from database_program.availability import declare_disruption_budget
from database_program.backup import declare_backup_cron_job, declare_backup_script, declare_backup_volume
from database_program.configmap import declare_config_map, pod_files_name
from database_program.context import Credentials, DatabaseContext, RestoreSource, ServerTls
from database_program.monitoring import declare_service_monitor
from database_program.network import declare_network_policy
from database_program.secret import declare_account_secrets, declare_secret
from database_program.services import declare_client_service, declare_headless_service, declare_read_only_service
from database_program.statefulset import declare_statefulset
from database_program.tls import declare_tls


def declare_database(ctx: DatabaseContext) -> dict[str, Any]:
    """Declare every object of one Database; return the stack outputs for its status."""
    declare_secret(ctx)
    declare_account_secrets(ctx)
    ca_config_map = declare_tls(ctx)
    declare_config_map(ctx)
    service = declare_client_service(ctx)
    read_only_service = declare_read_only_service(ctx)
    declare_headless_service(ctx)
    statefulset = declare_statefulset(ctx)
    declare_disruption_budget(ctx)
    declare_service_monitor(ctx)
    declare_network_policy(ctx)
    outputs: dict[str, Any] = {
        "endpoint": f"{ctx.name}.{ctx.namespace}.svc:{ctx.engine.port}",
        "service": service.metadata.name,
        "readOnlyEndpoint": f"{ctx.read_only_service_name}.{ctx.namespace}.svc:{ctx.engine.port}",
        "readOnlyService": read_only_service.metadata.name,
        "headlessService": ctx.headless_service_name,
        "statefulSet": statefulset.metadata.name,
        "configMap": pod_files_name(ctx),
        "secret": ctx.secret_name,
        "caConfigMap": ca_config_map.metadata.name,
        "backupCronJob": None,
        # For the scale subresource (`kubectl scale db`, autoscalers): which pods the Database runs.
        "selector": ",".join(f"{key}={value}" for key, value in sorted(ctx.selector_labels.items())),
    }
    if ctx.spec.backup is not None:
        volume = declare_backup_volume(ctx, ctx.spec.backup)
        declare_backup_script(ctx)
        outputs["backupCronJob"] = declare_backup_cron_job(ctx, ctx.spec.backup, volume).metadata.name
    return outputs


def context_from_config(config: pulumi.Config) -> DatabaseContext:
    """Build the context from the stack configuration the operator wrote (see database_operator.stacks)."""
    engine = EngineProfile.model_validate(config.require_object("engineProfile"))
    environment = EnvironmentProfile.model_validate(config.require_object("environmentProfile"))
    raw_spec = config.require_object("spec")
    restore = config.get_object("restore")
    profiles = StacksConfig(
        engines={raw_spec["type"]: engine}, environments={raw_spec.get("environment", "development"): environment}
    )
    return DatabaseContext(
        name=config.require("name"),
        namespace=config.require("namespace"),
        spec=resolve_spec(raw_spec, profiles),
        engine=engine,
        environment=environment,
        credentials=Credentials(
            admin_password=config.require_secret("adminPassword"),
            user_password=config.require_secret("userPassword"),
            replication_password=config.require_secret("replicationPassword"),
            exporter_password=config.require_secret("exporterPassword"),
            backup_password=config.require_secret("backupPassword"),
        ),
        tls=ServerTls(
            ca_certificate=config.require("tlsCaCertificate"),
            ca_key=config.require_secret("tlsCaKey"),
            certificate=config.require("tlsCertificate"),
            key=config.require_secret("tlsKey"),
        ),
        service_monitor_available=config.get_bool("serviceMonitorAvailable") or False,
        restore=RestoreSource(claim=restore["claim"], file=restore["file"]) if restore else None,
        uid=config.get("uid"),
        operator_peers=OperatorPeers.from_config(config.get_object("operatorPeers")),
    )


def declare_from_stack_config() -> None:
    ctx = context_from_config(pulumi.Config(CONFIG_NAMESPACE))
    for key, value in declare_database(ctx).items():
        pulumi.export(key, value)
    # Secret outputs (encrypted in the backend): the operator recovers the passwords from them if a stack's
    # workspace is ever lost. They never reach the status.
    pulumi.export("adminPassword", pulumi.Output.secret(ctx.credentials.admin_password))
    pulumi.export("userPassword", pulumi.Output.secret(ctx.credentials.user_password))
    pulumi.export("replicationPassword", pulumi.Output.secret(ctx.credentials.replication_password))
    pulumi.export("exporterPassword", pulumi.Output.secret(ctx.credentials.exporter_password))
    pulumi.export("backupPassword", pulumi.Output.secret(ctx.credentials.backup_password))
    # Likewise the TLS material: a lost workspace must never mean a new CA that every client would refuse.
    pulumi.export("tlsCaCertificate", ctx.tls.ca_certificate)
    pulumi.export("tlsCaKey", pulumi.Output.secret(ctx.tls.ca_key))
    pulumi.export("tlsCertificate", ctx.tls.certificate)
    pulumi.export("tlsKey", pulumi.Output.secret(ctx.tls.key))

"""The `<name>-config` ConfigMap: the engine's configuration file, the pods' scripts (bootstrap, readiness) and the
exporter's custom queries if its version needs them."""

import hashlib

from pulumi_kubernetes.core.v1 import ConfigMap

from database_program import engines
from database_program.context import DatabaseContext
from database_program.monitoring import exporter_files


def config_map_data(ctx: DatabaseContext) -> dict[str, str]:
    return {
        ctx.engine.config_file: engines.render_config(ctx),
        **engines.pod_scripts(ctx),
        **exporter_files(ctx),
    }


def config_checksum(ctx: DatabaseContext) -> str:
    """Goes on the pod template, so a configuration change rolls the pods."""
    data = config_map_data(ctx)
    digest = hashlib.sha256("".join(f"{key}\0{data[key]}\0" for key in sorted(data)).encode())
    return digest.hexdigest()


def declare_config_map(ctx: DatabaseContext) -> ConfigMap:
    return ConfigMap(ctx.config_map_name, metadata=ctx.metadata(ctx.config_map_name), data=config_map_data(ctx))

"""The pods' files ConfigMap `<name>-config-<hash>`: the engine's configuration file, the pods' scripts (bootstrap,
readiness, ha, tls) and the exporter's custom queries if its version needs them.

One ConfigMap per content, never changed: its name carries a hash of its data, it is `immutable`, and the pod
template names it. So a pod always runs the scripts and configuration its template was made with, even when its
container restarts in the middle of a rollout to new ones (an old pod running a new bootstrap script crash-looped
and wedged the rollout). The configuration file goes with the scripts for the same reason: a new configuration can
name a setting the old pod's server does not know. A changed content is a new name in the template, which is what
rolls the pods; an unchanged spec gives the same name, so no roll.

Pulumi retains the old one (`retain_on_delete`: a replacement's delete leaves it), as pods of the old revision still
mount it until the rollout has replaced them; the operator deletes it once no pod and no StatefulSet revision uses it
(operator/database_operator/pod_files.py). Pods find these by the label POD_FILES_COMPONENT."""

import hashlib

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap

from database_program import engines
from database_program.context import DatabaseContext
from database_program.monitoring import exporter_files

POD_FILES_COMPONENT = "config"
"""The `app.kubernetes.io/component` of the pods' files ConfigMaps: the operator prunes unused ones by it."""
HASH_LENGTH = 10


def config_map_data(ctx: DatabaseContext) -> dict[str, str]:
    return {
        ctx.engine.config_file: engines.render_config(ctx),
        **engines.pod_scripts(ctx),
        **exporter_files(ctx),
    }


def config_checksum(ctx: DatabaseContext) -> str:
    data = config_map_data(ctx)
    digest = hashlib.sha256("".join(f"{key}\0{data[key]}\0" for key in sorted(data)).encode())
    return digest.hexdigest()


def pod_files_name(ctx: DatabaseContext) -> str:
    """`<name>-config-<first 10 hex digits of the content's sha256>`."""
    return f"{ctx.config_map_name}-{config_checksum(ctx)[:HASH_LENGTH]}"


def pod_files_options() -> pulumi.ResourceOptions:
    """A new content replaces the Pulumi resource; the replaced one is left for the pods still using it."""
    return pulumi.ResourceOptions(retain_on_delete=True)


def declare_config_map(ctx: DatabaseContext) -> ConfigMap:
    # The logical name stays `<name>-config`: a new content is a replacement of the same Pulumi resource.
    return ConfigMap(
        ctx.config_map_name,
        opts=pod_files_options(),
        metadata=ctx.metadata(pod_files_name(ctx), component=POD_FILES_COMPONENT),
        data=config_map_data(ctx),
        immutable=True,
    )

"""The StatefulSet `<name>`: the database server pods and their data volumes."""

from pulumi_kubernetes.apps.v1 import (
    StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicyArgs,
    StatefulSetSpecArgs,
    StatefulSetUpdateStrategyArgs,
)
from pulumi_kubernetes.core.v1 import (
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    ContainerPortArgs,
    DownwardAPIVolumeFileArgs,
    DownwardAPIVolumeSourceArgs,
    EmptyDirVolumeSourceArgs,
    ExecActionArgs,
    KeyToPathArgs,
    ObjectFieldSelectorArgs,
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimSpecArgs,
    PersistentVolumeClaimVolumeSourceArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs

from database_api.profiles import ComputeResources, Engine, ResourceRequirements
from database_program import engines, tls
from database_program.availability import pod_anti_affinity
from database_program.configmap import pod_files_name
from database_program.context import SKIP_AWAIT, DatabaseContext
from database_program.monitoring import exporter_container, exporter_files_volume
from database_program.protection import statefulset_options
from database_program.security import container_security_context, pod_security_context

DATA_VOLUME = "data"
CONFIG_VOLUME = "config"
SCRIPTS_VOLUME = "scripts"
RESTORE_VOLUME = "restore"
POD_INFO_VOLUME = "podinfo"
SCRIPT_MODE = 0o755
# The engines write sockets, pid files and temporary files here; the root filesystem is read-only.
SCRATCH_DIRECTORIES = {
    Engine.MYSQL: {"run": "/var/run/mysqld", "tmp": "/tmp"},
    Engine.MARIADB: {"run": "/var/run/mysqld", "tmp": "/tmp"},
    Engine.POSTGRESQL: {"run": "/var/run/postgresql", "tmp": "/tmp"},
}


def _quantities(values: ComputeResources | None) -> dict[str, str] | None:
    return (values.model_dump(exclude_none=True) or None) if values else None


def resource_requirements(resources: ResourceRequirements) -> ResourceRequirementsArgs:
    return ResourceRequirementsArgs(requests=_quantities(resources.requests), limits=_quantities(resources.limits))


def _probe(command: list[str], period_seconds: int, failure_threshold: int) -> ProbeArgs:
    return ProbeArgs(
        exec_=ExecActionArgs(command=command),
        period_seconds=period_seconds,
        failure_threshold=failure_threshold,
        timeout_seconds=5,
    )


def scripts_mount() -> VolumeMountArgs:
    return VolumeMountArgs(name=SCRIPTS_VOLUME, mount_path=engines.POD_SCRIPTS_DIRECTORY, read_only=True)


def volume_mounts(ctx: DatabaseContext) -> list[VolumeMountArgs]:
    """What the server container and the bootstrap init containers all see: data, configuration, the product's
    scripts, the pod's role file, scratch space, the certificate (Secret and private copy) and the CA."""
    return [
        VolumeMountArgs(name=DATA_VOLUME, mount_path=ctx.engine.data_directory),
        VolumeMountArgs(
            name=CONFIG_VOLUME, mount_path=engines.config_path(ctx), sub_path=ctx.engine.config_file, read_only=True
        ),
        scripts_mount(),
        VolumeMountArgs(name=POD_INFO_VOLUME, mount_path=engines.POD_INFO_DIRECTORY, read_only=True),
        *(VolumeMountArgs(name=name, mount_path=path) for name, path in SCRATCH_DIRECTORIES[ctx.spec.engine].items()),
        *tls.mounts(),
        tls.ca_mount(),
    ]


def _scripts_volume(name: str, pod_files: str, scripts: dict[str, str]) -> VolumeArgs:
    """Scripts from the pods' files ConfigMap, executable."""
    items = [KeyToPathArgs(key=key, path=key, mode=SCRIPT_MODE) for key in scripts]
    return VolumeArgs(name=name, config_map=ConfigMapVolumeSourceArgs(name=pod_files, items=items))


def _pod_info_volume() -> VolumeArgs:
    """The pod's role label and may-initialise annotation as files, which follow them while the pod runs."""
    items = [
        DownwardAPIVolumeFileArgs(path=path, field_ref=ObjectFieldSelectorArgs(field_path=field))
        for path, field in engines.POD_INFO_FILES.items()
    ]
    return VolumeArgs(name=POD_INFO_VOLUME, downward_api=DownwardAPIVolumeSourceArgs(items=items))


def volumes(ctx: DatabaseContext) -> list[VolumeArgs]:
    # One name for all three, so a pod sees one content: the one its template was made with (configmap.py).
    pod_files = pod_files_name(ctx)
    config = ConfigMapVolumeSourceArgs(
        name=pod_files, items=[KeyToPathArgs(key=ctx.engine.config_file, path=ctx.engine.config_file)]
    )
    result = [
        VolumeArgs(name=CONFIG_VOLUME, config_map=config),
        _scripts_volume(SCRIPTS_VOLUME, pod_files, engines.pod_scripts(ctx)),
        _pod_info_volume(),
    ]
    if ctx.restore is not None:
        result.append(
            VolumeArgs(
                name=RESTORE_VOLUME,
                persistent_volume_claim=PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=ctx.restore.claim, read_only=True
                ),
            )
        )
    result += [
        VolumeArgs(name=name, empty_dir=EmptyDirVolumeSourceArgs()) for name in SCRATCH_DIRECTORIES[ctx.spec.engine]
    ]
    result += [*tls.volumes(ctx), tls.ca_volume(ctx)]
    exporter_files = exporter_files_volume(ctx, pod_files)
    if exporter_files is not None:
        result.append(exporter_files)
    return result


def database_container(ctx: DatabaseContext) -> ContainerArgs:
    """The server binary on the bootstrapped data directory: no initialisation happens here."""
    name = ctx.spec.engine.value
    return ContainerArgs(
        name=name,
        image=engines.image(ctx),
        command=engines.server_command(ctx),
        env=engines.server_env(ctx),
        ports=[ContainerPortArgs(name=name, container_port=ctx.engine.port)],
        resources=resource_requirements(ctx.spec.resources),
        volume_mounts=volume_mounts(ctx),
        security_context=container_security_context(),
        # Crash recovery of a large database may take a while (10 minutes allowed); after that liveness restarts a
        # hung server. A short period: every server start waits for this probe's first success.
        startup_probe=_probe(engines.liveness_command(ctx), period_seconds=2, failure_threshold=300),
        liveness_probe=_probe(engines.liveness_command(ctx), period_seconds=10, failure_threshold=6),
        readiness_probe=_probe(engines.readiness_command(ctx), period_seconds=5, failure_threshold=3),
    )


def bootstrap_container(ctx: DatabaseContext) -> ContainerArgs:
    """Makes the data directory complete (fresh, restored or copied from the primary) before the server may
    start; it fails, and the kubelet retries it, rather than ever leave a partial one (bootstrap-<engine>.sh).
    Its last words (which step failed) are the container's termination message."""
    mounts = volume_mounts(ctx)
    if ctx.restore is not None:
        # The one dump, read-only: never the other dumps on that volume, and never in the server container.
        mounts.append(
            VolumeMountArgs(
                name=RESTORE_VOLUME,
                mount_path=engines.restore_file(ctx.restore),
                sub_path=ctx.restore.file,
                read_only=True,
            )
        )
    return ContainerArgs(
        name="bootstrap",
        image=engines.image(ctx),
        command=engines.bootstrap_command(ctx),
        env=engines.bootstrap_env(ctx),
        resources=resource_requirements(ctx.spec.resources),
        volume_mounts=mounts,
        security_context=container_security_context(),
        termination_message_policy="FallbackToLogsOnError",
    )


def tls_reload_container(ctx: DatabaseContext) -> ContainerArgs:
    """Copies a renewed certificate and makes the server reread it, through the local socket (tls.sh watch)."""
    run = VolumeMountArgs(name="run", mount_path=SCRATCH_DIRECTORIES[ctx.spec.engine]["run"])
    return ContainerArgs(
        name="tls-reload",
        image=engines.image(ctx),
        command=engines.tls_reload_command(ctx),
        env=engines.tls_reload_env(ctx) + tls.reload_env(ctx),
        resources=tls.RELOAD_RESOURCES,
        volume_mounts=[*tls.mounts(), scripts_mount(), run],
        security_context=container_security_context(),
    )


def data_volume_claim(ctx: DatabaseContext) -> PersistentVolumeClaimArgs:
    return PersistentVolumeClaimArgs(
        metadata=ObjectMetaArgs(name=DATA_VOLUME, labels=ctx.selector_labels),
        spec=PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=ctx.spec.storage_class,
            resources=VolumeResourceRequirementsArgs(requests={"storage": ctx.spec.storage_size}),
        ),
    )


def declare_statefulset(ctx: DatabaseContext) -> StatefulSet:
    containers = [database_container(ctx)]
    exporter = exporter_container(ctx)
    if exporter is not None:
        containers.append(exporter)
    containers.append(tls_reload_container(ctx))
    return StatefulSet(
        ctx.name,
        opts=statefulset_options(),
        metadata=ctx.metadata(ctx.name, annotations=SKIP_AWAIT),
        spec=StatefulSetSpecArgs(
            replicas=ctx.spec.replicas,
            service_name=ctx.headless_service_name,
            selector=LabelSelectorArgs(match_labels=ctx.selector_labels),
            pod_management_policy="OrderedReady",
            # The operator rolls the pods (operator/database_operator/roll.py): replicas first, then a switchover,
            # then the old primary; the controller's RollingUpdate would restart the primary wherever it falls.
            update_strategy=StatefulSetUpdateStrategyArgs(type="OnDelete"),
            template=PodTemplateSpecArgs(
                # A changed content is a new ConfigMap name in the volumes: that rolls the pods.
                metadata=ObjectMetaArgs(labels=ctx.labels),
                spec=PodSpecArgs(
                    init_containers=[bootstrap_container(ctx)],
                    containers=containers,
                    volumes=volumes(ctx),
                    security_context=pod_security_context(ctx),
                    affinity=pod_anti_affinity(ctx),
                    enable_service_links=False,
                    automount_service_account_token=False,  # nothing in the pod talks to the Kubernetes API
                    termination_grace_period_seconds=60,
                ),
            ),
            volume_claim_templates=[data_volume_claim(ctx)],
            # The deletion policy decides whether data volumes outlive the Database.
            persistent_volume_claim_retention_policy=StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                when_deleted=ctx.spec.deletion_policy.value, when_scaled="Retain"
            ),
        ),
    )

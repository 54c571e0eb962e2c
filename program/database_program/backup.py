"""Scheduled backups: the backup volume, the backup script, and the CronJob `<name>-backup` that runs it."""

import pulumi
from pulumi_kubernetes.batch.v1 import CronJob, CronJobSpecArgs, JobSpecArgs, JobTemplateSpecArgs
from pulumi_kubernetes.core.v1 import (
    ConfigMap,
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpecArgs,
    PersistentVolumeClaimVolumeSourceArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from database_api.names import BACKUP_DIRECTORY
from database_api.profiles import DeletionPolicy
from database_api.schedule import parse_duration
from database_api.spec import ResolvedBackup
from database_program import engines, tls
from database_program.context import SKIP_AWAIT, DatabaseContext
from database_program.protection import backup_volume_options
from database_program.security import container_security_context, pod_security_context

SCRIPT_DIRECTORY = "/scripts"
SCRIPT_FILE = "backup.sh"


def declare_backup_volume(ctx: DatabaseContext, backup: ResolvedBackup) -> PersistentVolumeClaim:
    """Dumps outlive the Database when its deletion policy is Retain, and a stack update never deletes them
    (protection.py)."""
    return PersistentVolumeClaim(
        ctx.backup_name,
        opts=backup_volume_options(),
        metadata=ctx.metadata(
            ctx.backup_name,
            component="backup",
            annotations=SKIP_AWAIT,
            outlives_database=ctx.spec.deletion_policy is DeletionPolicy.RETAIN,
        ),
        spec=PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=ctx.spec.storage_class,
            resources=VolumeResourceRequirementsArgs(requests={"storage": backup.storage_size}),
        ),
    )


def declare_backup_script(ctx: DatabaseContext) -> ConfigMap:
    return ConfigMap(
        ctx.backup_name,
        metadata=ctx.metadata(ctx.backup_name, component="backup"),
        data={SCRIPT_FILE: engines.script(engines.backup_script_name(ctx))},
    )


def backup_env(ctx: DatabaseContext, backup: ResolvedBackup) -> list[EnvVarArgs]:
    retention_minutes = int(parse_duration(backup.retention).total_seconds() // 60)
    return [
        EnvVarArgs(name="DB_HOST", value=f"{ctx.name}.{ctx.namespace}.svc"),
        EnvVarArgs(name="DB_PORT", value=str(ctx.engine.port)),
        EnvVarArgs(name="DB_NAME", value=ctx.database_name),
        # The backup account: read and lock grants only (bootstrap-<engine>.sh).
        engines.secret_env("DB_USER", ctx, "username", ctx.backup_secret_name),
        engines.secret_env("DB_PASSWORD", ctx, "password", ctx.backup_secret_name),
        EnvVarArgs(name="BACKUP_DIR", value=BACKUP_DIRECTORY),
        EnvVarArgs(name="RETENTION_MINUTES", value=str(retention_minutes)),
        *engines.client_tls_env(ctx),  # verifies the server against the Database's CA
    ]


def backup_pod(ctx: DatabaseContext, backup: ResolvedBackup) -> PodSpecArgs:
    return PodSpecArgs(
        restart_policy="Never",
        automount_service_account_token=False,  # a dump needs the database, not the Kubernetes API
        security_context=pod_security_context(ctx),
        containers=[
            ContainerArgs(
                name="backup",
                image=engines.image(ctx),  # the same client tools as the server
                command=["sh", f"{SCRIPT_DIRECTORY}/{SCRIPT_FILE}"],
                env=backup_env(ctx, backup),
                volume_mounts=[
                    VolumeMountArgs(name="backups", mount_path=BACKUP_DIRECTORY),
                    VolumeMountArgs(name="script", mount_path=SCRIPT_DIRECTORY, read_only=True),
                    VolumeMountArgs(name="tmp", mount_path="/tmp"),
                    tls.ca_mount(),
                ],
                security_context=container_security_context(),
            )
        ],
        volumes=[
            VolumeArgs(
                name="backups",
                persistent_volume_claim=PersistentVolumeClaimVolumeSourceArgs(claim_name=ctx.backup_name),
            ),
            VolumeArgs(name="script", config_map=ConfigMapVolumeSourceArgs(name=ctx.backup_name)),
            VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs()),
            tls.ca_volume(ctx),
        ],
    )


def declare_backup_cron_job(ctx: DatabaseContext, backup: ResolvedBackup, volume: PersistentVolumeClaim) -> CronJob:
    return CronJob(
        ctx.backup_name,
        # Deleted before the volume: its Jobs' pods, removed with it, would keep the volume from going.
        opts=pulumi.ResourceOptions(depends_on=[volume]),
        metadata=ctx.metadata(ctx.backup_name, component="backup"),
        spec=CronJobSpecArgs(
            schedule=backup.schedule,
            concurrency_policy="Forbid",  # never two dumps of one database at once
            starting_deadline_seconds=600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=JobTemplateSpecArgs(
                metadata=ObjectMetaArgs(labels={**ctx.labels, "app.kubernetes.io/component": "backup"}),
                spec=JobSpecArgs(
                    backoff_limit=2,
                    active_deadline_seconds=6 * 3600,
                    template=PodTemplateSpecArgs(
                        metadata=ObjectMetaArgs(labels={**ctx.labels, "app.kubernetes.io/component": "backup"}),
                        spec=backup_pod(ctx, backup),
                    ),
                ),
            ),
        ),
    )

"""The DatabaseBackup kind: one backup of one Database, taken now with the Database's own backup script."""

from enum import StrEnum

from pydantic import Field

from database_api.profiles import Camel

BACKUP_KIND = "DatabaseBackup"
BACKUP_PLURAL = "databasebackups"


class DatabaseBackupSpec(Camel):
    database: str = Field(
        min_length=1,
        max_length=253,
        description="Name of the Database to back up, in the same namespace; it must have spec.backup.enabled "
        "(its backup volume holds the dump). Cannot change.",
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "spec.database cannot change"}]
        },
    )


class BackupPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class DatabaseBackupStatus(Camel):
    phase: BackupPhase = Field(default=BackupPhase.PENDING, description="Pending, Running, Succeeded or Failed.")
    in_progress: bool = Field(default=False, description="The backup Job is running.")
    job: str | None = Field(default=None, description="The Job that takes the backup.")
    start_time: str | None = Field(default=None, description="When the backup Job started (RFC 3339).")
    completion_time: str | None = Field(default=None, description="When the backup finished (RFC 3339).")
    volume: str | None = Field(default=None, description="The backup volume (PersistentVolumeClaim) holding the dump.")
    artifact: str | None = Field(default=None, description="Path of the dump on that volume.")
    size_bytes: int | None = Field(default=None, description="Size of the dump, as the backup script reported it.")
    message: str = Field(default="", description="Why the backup failed or waits.")

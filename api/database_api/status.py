"""The Database status: what the operator reports. Never holds a password or any secret value."""

from enum import StrEnum

from pydantic import Field

from database_api.profiles import Camel


class Phase(StrEnum):
    PENDING = "Pending"
    CREATING = "Creating"
    READY = "Ready"
    PARTIALLY_READY = "PartiallyReady"
    FAILED = "Failed"
    DELETING = "Deleting"
    AWAITING_APPROVAL = "AwaitingApproval"
    UPDATING = "Updating"
    """Pods still run an older template: the operator is rolling them (operator/database_operator/roll.py)."""


class PlanState(StrEnum):
    AWAITING_APPROVAL = "AwaitingApproval"
    APPLIED = "Applied"


class Condition(Camel):
    """A standard Kubernetes condition, usable with `kubectl wait --for=condition=Ready`."""

    type: str = Field(description="Ready, Reconciled, Drifted, BackupFailed, ...")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word for machines.")
    message: str = Field(default="", description="Human-readable detail.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(default=None, description="Spec generation this was computed for.")


class StackOutputs(Camel):
    """The Pulumi stack's outputs: where to connect and which objects belong to the Database."""

    endpoint: str | None = Field(default=None, description="host:port of the client Service (read-write: the primary).")
    service: str | None = Field(default=None, description="Client Service name.")
    read_only_endpoint: str | None = Field(
        default=None, description="host:port of the read-only Service (the replicas; no endpoints with one replica)."
    )
    read_only_service: str | None = Field(default=None, description="Read-only Service name.")
    headless_service: str | None = Field(default=None, description="Headless Service the StatefulSet uses.")
    stateful_set: str | None = Field(default=None, description="StatefulSet name.")
    config_map: str | None = Field(default=None, description="ConfigMap with the engine configuration.")
    secret: str | None = Field(default=None, description="Secret holding the generated credentials.")
    ca_config_map: str | None = Field(
        default=None,
        description="ConfigMap whose ca.crt is the Database's CA: mount it to connect with verify-full "
        "(PostgreSQL sslmode=verify-full sslrootcert=...; MariaDB --ssl-ca=... --ssl-verify-server-cert).",
    )
    backup_cron_job: str | None = Field(default=None, description="Backup CronJob name, when backups are on.")


class Instance(Camel):
    """One database pod, as the operator sees it."""

    pod: str
    role: str = Field(description="primary (the pod status.currentPrimary names) or replica.")
    ready: bool = Field(
        description="The pod's readiness probe passes: the primary accepts queries; a replica replicates from the "
        "primary (PostgreSQL: streaming WAL; MySQL: both replication threads running)."
    )
    lag_seconds: float | None = Field(
        default=None,
        description="A replica's replication lag as its metrics exporter reports it; absent when metrics are off.",
    )
    bootstrap_failure: str | None = Field(
        default=None,
        description="Why the pod's bootstrap (the init container that builds a fresh, restored or copied data "
        "directory) last failed, e.g. `bootstrap failed while restoring /restore/x.dump`; absent once it succeeded. "
        "The server never starts on a directory the bootstrap did not complete.",
    )


class OperationSummary(Camel):
    """The last Pulumi operation run for this Database."""

    kind: str = Field(description="up, refresh, preview or destroy.")
    result: str = Field(description="succeeded or failed.")
    message: str = Field(default="", description="Error text when the operation failed.")
    created: int = 0
    updated: int = 0
    deleted: int = 0
    replaced: int = 0
    unchanged: int = 0
    duration_seconds: float = Field(description="Wall-clock time of the operation.")
    time: str = Field(description="When the operation finished (RFC 3339).")


class PlannedChange(Camel):
    """What a plan does to one object."""

    resource: str = Field(description="Kind/name, e.g. StatefulSet/orders.")
    action: str = Field(description="create, update, replace or delete.")
    fields: list[str] = Field(default_factory=list, description="Changed fields, e.g. spec.replicas.")
    data_loss: str | None = Field(default=None, description="Why this change may lose data, when it may.")


class PlanStatus(Camel):
    """A previewed change under `updatePolicy: RequireApproval`: applied only once approved by its id."""

    id: str = Field(description="Approve with the annotation database.example.com/approved-plan=<id>.")
    state: PlanState = Field(description="AwaitingApproval or Applied.")
    generation: int | None = Field(default=None, description="Spec generation the plan was previewed for.")
    created: int = 0
    updated: int = 0
    replaced: int = 0
    deleted: int = 0
    unchanged: int = 0
    data_loss: bool = Field(default=False, description="Some change may lose data (see changes).")
    changes: list[PlannedChange] = Field(default_factory=list, description="Every object the plan changes.")
    time: str = Field(description="When the preview ran (RFC 3339).")


class RestoredFrom(Camel):
    """The backup a Database was initialised from, resolved once at creation."""

    backup: str = Field(description="The DatabaseBackup named in spec.restore.")
    volume: str = Field(description="The backup volume the dump is read from.")
    artifact: str = Field(description="Path of the dump on that volume.")


class DatabaseStatus(Camel):
    phase: Phase = Field(
        default=Phase.PENDING,
        description="Pending, Creating, Ready, PartiallyReady, AwaitingApproval, Failed, Deleting.",
    )
    ready: bool = Field(default=False, description="All requested replicas are ready.")
    replicas: int = Field(default=0, description="Ready replicas (the scale subresource reads this).")
    selector: str | None = Field(default=None, description="Label selector of the pods (for the scale subresource).")
    current_primary: str | None = Field(
        default=None,
        description="The pod that is the primary, decided by the operator: pod 0 of a new Database, then the replica "
        "each failover or switchover promoted. The read-write Service selects it by its role label.",
    )
    instances: list[Instance] = Field(
        default_factory=list, description="Each database pod: its role, readiness and replication lag."
    )
    last_backup: str | None = Field(
        default=None, description="Completion time of the last successful backup Job; never a made-up time."
    )
    observed_generation: int | None = Field(default=None, description="Spec generation the status describes.")
    conditions: list[Condition] = Field(default_factory=list, description="Standard conditions.")
    outputs: StackOutputs | None = Field(default=None, description="Outputs of the Database's Pulumi stack.")
    last_operation: OperationSummary | None = Field(default=None, description="Summary of the last Pulumi operation.")
    stack: str | None = Field(default=None, description="Name of the Database's Pulumi stack.")
    applied_configuration: str | None = Field(
        default=None,
        description="Generation and hash of the stack configuration last applied; the same configuration is not "
        "applied again when the operator restarts (drift checks verify the objects instead).",
    )
    restored_from: RestoredFrom | None = Field(default=None, description="The backup loaded on first start.")
    plan: PlanStatus | None = Field(
        default=None, description="The change plan awaiting approval or last applied (updatePolicy RequireApproval)."
    )

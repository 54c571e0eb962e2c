"""Everything the program needs to know about one Database, resolved once and passed to every builder."""

from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs, OwnerReferenceArgs

from database_api.names import (
    backup_name,
    backup_secret_name,
    credentials_secret_name,
    exporter_secret_name,
    replication_secret_name,
)
from database_api.network import OperatorPeers
from database_api.profiles import EngineProfile, EnvironmentProfile
from database_api.spec import ResolvedSpec

OWNED = {"pulumi.com/patchForce": "true"}
"""The stack owns its objects outright: server-side apply takes back fields someone else changed (drift) and
adopts objects left by an interrupted operation, instead of failing on a field-manager conflict."""

SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
"""`pulumi up` must not block until pods are ready or volumes bound; the operator reports readiness itself."""


DATABASE_API_VERSION = "database.example.com/v1"


@dataclass(frozen=True)
class Credentials:
    """Generated once by the operator, kept encrypted in the stack's configuration."""

    admin_password: pulumi.Input[str]
    user_password: pulumi.Input[str]
    replication_password: pulumi.Input[str]
    exporter_password: pulumi.Input[str]
    backup_password: pulumi.Input[str]


@dataclass(frozen=True)
class ServerTls:
    """The Database's CA and server certificate, made and renewed by the operator (server_tls.py), kept in the
    stack's configuration (the keys encrypted)."""

    ca_certificate: str
    ca_key: pulumi.Input[str]
    certificate: str
    key: pulumi.Input[str]


@dataclass(frozen=True)
class RestoreSource:
    """A dump a new Database is initialised from: a file on another Database's backup volume. Only the bootstrap
    init container mounts it, and only that file, read-only (statefulset.py)."""

    claim: str
    """The backup volume (PersistentVolumeClaim) holding the dump, in the same namespace."""
    file: str
    """The dump's file name on that volume."""


@dataclass(frozen=True)
class DatabaseContext:
    name: str
    namespace: str
    spec: ResolvedSpec
    engine: EngineProfile
    environment: EnvironmentProfile
    credentials: Credentials
    tls: ServerTls
    service_monitor_available: bool = False
    """Whether the cluster serves monitoring.coreos.com/v1 ServiceMonitors (the operator checks)."""
    restore: RestoreSource | None = None
    """Load this dump on first start (spec.restore, resolved by the operator to a file)."""
    uid: str | None = None
    """The Database's uid: objects carry an ownerReference to it (none in a preview of a Database not created yet)."""
    operator_peers: OperatorPeers = field(default_factory=OperatorPeers)
    """Where the operator reads the exporters from: the NetworkPolicy admits it to the exporter port."""

    @property
    def config_map_name(self) -> str:
        return f"{self.name}-config"

    @property
    def secret_name(self) -> str:
        return credentials_secret_name(self.name)

    @property
    def replication_secret_name(self) -> str:
        return replication_secret_name(self.name)

    @property
    def exporter_secret_name(self) -> str:
        return exporter_secret_name(self.name)

    @property
    def backup_secret_name(self) -> str:
        return backup_secret_name(self.name)

    @property
    def headless_service_name(self) -> str:
        return f"{self.name}-headless"

    @property
    def read_only_service_name(self) -> str:
        return f"{self.name}-ro"

    @property
    def primary_host(self) -> str:
        """The read-write Service: where replicas copy and stream from. It moves with the primary (its role label),
        so after a failover the replicas follow the new one by the same name."""
        return self.name

    @property
    def backup_name(self) -> str:
        return backup_name(self.name)

    @property
    def database_name(self) -> str:
        """The application database inside the server: the Database's name, as a SQL identifier."""
        return self.name.replace("-", "_").replace(".", "_")

    @property
    def selector_labels(self) -> dict[str, str]:
        """Select the database server pods only, never backup Job pods of the same instance."""
        return {
            "app.kubernetes.io/name": self.spec.engine.value,
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": "database",
        }

    @property
    def labels(self) -> dict[str, str]:
        return {
            **self.selector_labels,
            "app.kubernetes.io/version": self.spec.version,
            "app.kubernetes.io/part-of": self.name,
            "app.kubernetes.io/managed-by": "database-operator",
        }

    def owner_references(self) -> list[OwnerReferenceArgs] | None:
        """The Database as controller: garbage collection removes the object if the operator ever cannot."""
        if self.uid is None:
            return None
        return [
            OwnerReferenceArgs(
                api_version=DATABASE_API_VERSION, kind="Database", name=self.name, uid=self.uid, controller=True
            )
        ]

    def metadata(
        self,
        name: str,
        component: str = "database",
        annotations: dict[str, str] | None = None,
        outlives_database: bool = False,
    ) -> ObjectMetaArgs:
        """ObjectMeta for one of this Database's objects, with the recommended labels. An object that
        `outlives_database` (kept under deletionPolicy Retain) has no ownerReference: the garbage collector
        would delete it with the Database."""
        return ObjectMetaArgs(
            name=name,
            namespace=self.namespace,
            labels={**self.labels, "app.kubernetes.io/component": component},
            annotations={**OWNED, **(annotations or {})},
            owner_references=None if outlives_database else self.owner_references(),
        )

"""Names and labels that the operator and the program must agree on.

Both import them from here: the operator without pulling in the program (and with it pulumi_kubernetes).
"""

CONFIG_NAMESPACE = "database"
"""Stack configuration keys (`database:<key>`), written by the operator, readable by `pulumi config`."""

PASSWORD_KEYS = ("adminPassword", "userPassword", "replicationPassword", "exporterPassword", "backupPassword")
"""The generated passwords: stack configuration keys (encrypted), secret stack outputs and Secret keys."""

ROLE_LABEL = "database.example.com/role"
"""On database pods, set by the operator: `primary` (the pod `status.currentPrimary` names) or `replica` (`fenced`
for an old primary while a failover replaces it: in neither Service). The
read-write Service selects the primary by it, the read-only one the replicas; the pods read their own through the
downward API. A pod without it waits: only the operator decides which pod is the primary."""
PRIMARY_ROLE, REPLICA_ROLE = "primary", "replica"
MAY_INITIALISE_ANNOTATION = "database.example.com/may-initialise"
"""On the first primary of a Database that never had a ready primary: only then may its bootstrap initialise an
empty data directory. A primary that finds its volume empty later never starts an empty database in its place."""
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
"""Set by the StatefulSet controller: the pod's ordinal (its server id; pod 0 is a new Database's first primary)."""

BACKUP_DIRECTORY = "/backups"
"""Where the backup volume is mounted in backup and restore pods; backup artifacts are paths under it."""


def credentials_secret_name(database: str) -> str:
    return f"{database}-credentials"


def backup_name(database: str) -> str:
    """The backup volume, script ConfigMap and CronJob of a Database with backups on."""
    return f"{database}-backup"


def replication_secret_name(database: str) -> str:
    return f"{database}-replication"


def exporter_secret_name(database: str) -> str:
    """The metrics exporter's account (monitoring grants only)."""
    return f"{database}-exporter"


def backup_secret_name(database: str) -> str:
    """The backup account (read and lock grants only), for backup Jobs and replicas' first copy (MySQL family)."""
    return f"{database}-backup"


def ca_name(database: str) -> str:
    """The Database's certificate authority: a Secret (its key, for the operator only) and a ConfigMap (ca.crt, for
    applications to mount) of this name."""
    return f"{database}-ca"


def tls_secret_name(database: str) -> str:
    """The server's certificate and key (tls.crt, tls.key, ca.crt), mounted by the database pods only."""
    return f"{database}-tls"


def object_names(database: str) -> dict[str, set[str]]:
    """Every object a Database's stack may declare, by kind: no two Databases may share one. Not listed: the pods'
    files ConfigMap, `<name>-config-<hash of its content>` (configmap.py), whose name no other Database's objects,
    and no object of anyone else, can be expected to have."""
    return {
        "Secret": {
            credentials_secret_name(database),
            replication_secret_name(database),
            exporter_secret_name(database),
            backup_secret_name(database),
            ca_name(database),
            tls_secret_name(database),
        },
        "ConfigMap": {backup_name(database), ca_name(database)},
        "Service": {database, f"{database}-ro", f"{database}-headless"},
        "StatefulSet": {database},
        "PodDisruptionBudget": {database},
        "NetworkPolicy": {database},
        "ServiceMonitor": {database},
        "CronJob": {backup_name(database)},
        "PersistentVolumeClaim": {backup_name(database)},
    }

"""TLS: the Database's CA and server certificate (made and renewed by the operator, database_operator.server_tls),
declared as Secrets kept like the passwords; the CA published in a ConfigMap applications mount; and what the pods
need to serve and verify with them.

The server reads a private copy of the certificate and key (tls.sh copies them from the Secret volume: PostgreSQL
refuses a key file owned by neither its user nor root, and the copy is the server user's own, mode 0600). The
Secret volume follows the Secret by itself (no subPath), and the pod's `tls-reload` container copies a renewed
certificate and makes the server reread it: no restart.
"""

import pulumi
from pulumi_kubernetes.core.v1 import (
    ConfigMap,
    ConfigMapVolumeSourceArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    ResourceRequirementsArgs,
    Secret,
    SecretVolumeSourceArgs,
    VolumeArgs,
    VolumeMountArgs,
)

from database_api.names import ca_name, tls_secret_name
from database_api.profiles import Engine
from database_program.context import DatabaseContext
from database_program.protection import credentials_options, secrets_outlive_database

SECRET_DIRECTORY = "/tls"
"""Where the database pods mount the `<name>-tls` Secret (tls.crt, tls.key, ca.crt)."""
PRIVATE_DIRECTORY = "/var/run/tls"
"""The server's own copy of certificate and key (tls.sh), in memory: the key never reaches a disk."""
CA_DIRECTORY = "/tls-ca"
"""Where backup Jobs and the exporter mount the `<name>-ca` ConfigMap (ca.crt only)."""
CA_FILE = f"{CA_DIRECTORY}/ca.crt"
SECRET_VOLUME, PRIVATE_VOLUME, CA_VOLUME = "tls", "tls-private", "tls-ca"
RELOAD_SECONDS = 10
"""How often the tls-reload container looks for a renewed certificate."""
RELOAD_STATEMENT = {
    Engine.MARIADB: "FLUSH SSL",
    Engine.MYSQL: "ALTER INSTANCE RELOAD TLS",
    Engine.POSTGRESQL: "SELECT pg_reload_conf()",
}
"""What makes the running server reread its certificate and key (MariaDB 10.4+, MySQL 8.0.16+, PostgreSQL)."""


def server_settings(ctx: DatabaseContext) -> dict[str, str | int]:
    """TLS required for every TCP client: PostgreSQL's pg_hba.conf allows only `hostssl` (bootstrap), MariaDB and
    MySQL refuse any TCP connection without TLS; the local socket stays as it is."""
    certificate, key = f"{PRIVATE_DIRECTORY}/tls.crt", f"{PRIVATE_DIRECTORY}/tls.key"
    if ctx.spec.engine is Engine.POSTGRESQL:
        return {
            "ssl": "on",
            "ssl_cert_file": f"'{certificate}'",
            "ssl_key_file": f"'{key}'",
            "ssl_min_protocol_version": "'TLSv1.2'",
        }
    return {"ssl_cert": certificate, "ssl_key": key, "require_secure_transport": "ON", "tls_version": "TLSv1.2,TLSv1.3"}


def renewable_options() -> pulumi.ResourceOptions:
    """The server certificate's Secret changes at every renewal, and pulumi-kubernetes replaces a Secret whose data
    changes. Retained (Pulumi never deletes it: the replacement's delete is a no-op) and replaced delete-first, the
    replacement is an apply over the same object: the Secret is updated in place, never missing, and the pods'
    Secret volume follows. Not protected, which would refuse every renewal: its content is kept in the stack's
    settings and outputs, and the CA that signs it is protected."""
    return pulumi.ResourceOptions(retain_on_delete=True, delete_before_replace=True)


def declare_tls(ctx: DatabaseContext) -> ConfigMap:
    """`<name>-ca` Secret (the CA's key: only the operator uses it, through the stack), `<name>-tls` Secret (the
    server's certificate and key) and the `<name>-ca` ConfigMap (ca.crt, for clients). The CA's Secret is protected
    and retained like the credentials (protection.py): a CA lost would break every client that trusts it."""
    outlives = secrets_outlive_database(ctx)
    Secret(
        ca_name(ctx.name),
        opts=credentials_options(),
        metadata=ctx.metadata(ca_name(ctx.name), component="tls", outlives_database=outlives),
        type="Opaque",
        string_data={"ca.crt": ctx.tls.ca_certificate, "ca.key": ctx.tls.ca_key},
    )
    Secret(
        tls_secret_name(ctx.name),
        opts=renewable_options(),
        metadata=ctx.metadata(tls_secret_name(ctx.name), component="tls", outlives_database=outlives),
        type="kubernetes.io/tls",
        string_data={"tls.crt": ctx.tls.certificate, "tls.key": ctx.tls.key, "ca.crt": ctx.tls.ca_certificate},
    )
    return ConfigMap(
        ca_name(ctx.name),
        metadata=ctx.metadata(ca_name(ctx.name), component="tls"),
        data={"ca.crt": ctx.tls.ca_certificate},
    )


def volumes(ctx: DatabaseContext) -> list[VolumeArgs]:
    """The database pod's: the Secret (readable by the pod's group, fsGroup) and the in-memory private copy."""
    return [
        VolumeArgs(
            name=SECRET_VOLUME,
            secret=SecretVolumeSourceArgs(secret_name=tls_secret_name(ctx.name), default_mode=0o440),
        ),
        VolumeArgs(name=PRIVATE_VOLUME, empty_dir=EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Mi")),
    ]


def mounts() -> list[VolumeMountArgs]:
    """The bootstrap's, the server's and tls-reload's: the Secret and the private copy."""
    return [
        VolumeMountArgs(name=SECRET_VOLUME, mount_path=SECRET_DIRECTORY, read_only=True),
        VolumeMountArgs(name=PRIVATE_VOLUME, mount_path=PRIVATE_DIRECTORY),
    ]


def ca_volume(ctx: DatabaseContext) -> VolumeArgs:
    """The CA's certificate only: for clients that verify the server (backup Jobs, the exporter)."""
    return VolumeArgs(name=CA_VOLUME, config_map=ConfigMapVolumeSourceArgs(name=ca_name(ctx.name)))


def ca_mount() -> VolumeMountArgs:
    return VolumeMountArgs(name=CA_VOLUME, mount_path=CA_DIRECTORY, read_only=True)


RELOAD_RESOURCES = ResourceRequirementsArgs(
    requests={"cpu": "5m", "memory": "16Mi"}, limits={"cpu": "100m", "memory": "64Mi"}
)
"""A shell loop and, rarely, a client: tls.sh's containers."""


def reload_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """tls.sh watch: how often to look, and what makes the server reread its certificate."""
    return [
        EnvVarArgs(name="RELOAD_STATEMENT", value=RELOAD_STATEMENT[ctx.spec.engine]),
        EnvVarArgs(name="RELOAD_SECONDS", value=str(RELOAD_SECONDS)),
    ]

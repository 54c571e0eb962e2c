"""The Secrets: generated passwords (kept in the stack's encrypted config) plus connection facts. Passwords are
generated once by the operator and stay the same on every later update."""

import pulumi
from pulumi_kubernetes.core.v1 import Secret

from database_program import engines
from database_program.context import DatabaseContext
from database_program.protection import credentials_options, secrets_outlive_database


def _secret(ctx: DatabaseContext, name: str, data: dict[str, pulumi.Input[str]]) -> Secret:
    """Protected; kept with the data volumes under deletionPolicy Retain, else deleted with the Database by the
    garbage collector (protection.py)."""
    return Secret(
        name,
        opts=credentials_options(),
        metadata=ctx.metadata(name, outlives_database=secrets_outlive_database(ctx)),
        type="Opaque",
        string_data=data,
    )


def declare_secret(ctx: DatabaseContext) -> Secret:
    """`<name>-credentials`: what clients and the backup Job connect with."""
    return _secret(
        ctx,
        ctx.secret_name,
        {
            "admin-username": engines.ADMIN_USERNAME[ctx.spec.engine],
            "admin-password": pulumi.Output.secret(ctx.credentials.admin_password),
            "username": engines.APP_USERNAME,
            "password": pulumi.Output.secret(ctx.credentials.user_password),
            "database": ctx.database_name,
            "host": f"{ctx.name}.{ctx.namespace}.svc",
            "port": str(ctx.engine.port),
        },
    )


def declare_account_secrets(ctx: DatabaseContext) -> list[Secret]:
    """One Secret per account with one job, apart from the admin's: `<name>-replication` (replicas copy and stream
    the primary), `<name>-exporter` (the metrics sidecar) and `<name>-backup` (backup Jobs; MariaDB/MySQL replicas'
    first copy). Each pod or Job mounts only the ones it needs."""
    accounts = [
        (ctx.replication_secret_name, engines.REPLICATION_USERNAME, ctx.credentials.replication_password),
        (ctx.exporter_secret_name, engines.EXPORTER_USERNAME, ctx.credentials.exporter_password),
        (ctx.backup_secret_name, engines.BACKUP_USERNAME, ctx.credentials.backup_password),
    ]
    return [
        _secret(ctx, name, {"username": username, "password": pulumi.Output.secret(password)})
        for name, username, password in accounts
    ]

"""The credentials Secret: generated passwords (kept in the stack's encrypted config) plus connection facts."""

import pulumi
from pulumi_kubernetes.core.v1 import Secret

from database_program import engines
from database_program.context import DatabaseContext


def declare_secret(ctx: DatabaseContext) -> Secret:
    """Passwords are generated once by the operator and stay the same on every later update."""
    return Secret(
        ctx.secret_name,
        metadata=ctx.metadata(ctx.secret_name),
        type="Opaque",
        string_data={
            "admin-username": engines.ADMIN_USERNAME[ctx.spec.engine],
            "admin-password": pulumi.Output.secret(ctx.credentials.admin_password),
            "username": engines.APP_USERNAME,
            "password": pulumi.Output.secret(ctx.credentials.user_password),
            "database": ctx.database_name,
            "host": f"{ctx.name}.{ctx.namespace}.svc",
            "port": str(ctx.engine.port),
        },
    )

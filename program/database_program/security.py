"""Restrictive security contexts shared by every pod and container the program declares."""

from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    PodSecurityContextArgs,
    SeccompProfileArgs,
    SecurityContextArgs,
)

from database_program.context import DatabaseContext


def pod_security_context(ctx: DatabaseContext) -> PodSecurityContextArgs:
    uid = ctx.engine.run_as_user
    return PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,  # makes the data volume writable by the database user
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context() -> SecurityContextArgs:
    return SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=CapabilitiesArgs(drop=["ALL"]),
    )

"""What differs between MySQL and PostgreSQL inside the objects: config syntax, env names, probes, tools.

Numbers and paths live in `stacks-config/engines.yaml`; this module holds only the engine's conventions.
"""

from importlib.resources import files

from pulumi_kubernetes.core.v1 import EnvVarArgs, EnvVarSourceArgs, ObjectFieldSelectorArgs, SecretKeySelectorArgs

from database_api.names import POD_INDEX_LABEL
from database_api.profiles import Engine
from database_program.context import DatabaseContext

ADMIN_USERNAME = {Engine.MYSQL: "root", Engine.POSTGRESQL: "postgres"}
RESTORE_DIRECTORY = "/restore"
"""Where a restored Database's pods mount the source's backup volume, read-only."""
POD_SCRIPTS_DIRECTORY = "/scripts"
"""Where the database pods mount the scripts they run besides the image's own: start, clone, readiness."""
APP_USERNAME = "app"
REPLICATION_USERNAME = "replicator"


def script(name: str) -> str:
    """A shell script shipped with the program (see `scripts/`)."""
    return (files("database_program") / "scripts" / name).read_text()


def secret_env(name: str, ctx: DatabaseContext, key: str, secret: str | None = None) -> EnvVarArgs:
    """An env var whose value comes from a Secret (by default the credentials Secret): the only way a password
    reaches a container."""
    return EnvVarArgs(
        name=name,
        value_from=EnvVarSourceArgs(secret_key_ref=SecretKeySelectorArgs(name=secret or ctx.secret_name, key=key)),
    )


def replication_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """What the pod scripts need to know about the topology: this pod's ordinal, the primary, the account."""
    return [
        EnvVarArgs(
            name="POD_INDEX",
            value_from=EnvVarSourceArgs(
                field_ref=ObjectFieldSelectorArgs(field_path=f"metadata.labels['{POD_INDEX_LABEL}']")
            ),
        ),
        EnvVarArgs(name="PRIMARY_HOST", value=ctx.primary_host),
        secret_env("REPLICATION_USER", ctx, "username", ctx.replication_secret_name),
        secret_env("REPLICATION_PASSWORD", ctx, "password", ctx.replication_secret_name),
    ]


def server_settings(ctx: DatabaseContext) -> dict[str, str | int]:
    """Engine settings: the engine's base, then the environment's tuning, then logging when asked for."""
    settings: dict[str, str | int] = {**ctx.engine.settings, **ctx.environment.engine_settings[ctx.spec.engine]}
    if ctx.spec.engine is Engine.MYSQL:
        settings["datadir"] = data_path(ctx)
    if ctx.spec.monitoring.enabled and ctx.spec.monitoring.logging:
        settings.update(ctx.engine.logging_settings)
    return settings


def render_config(ctx: DatabaseContext) -> str:
    """The engine's configuration file. MySQL reads an INI `[mysqld]` section; PostgreSQL `key = value` lines."""
    lines = [f"{key} = {value}" for key, value in server_settings(ctx).items()]
    header = "[mysqld]\n" if ctx.spec.engine is Engine.MYSQL else ""
    return header + "\n".join(lines) + "\n"


def data_path(ctx: DatabaseContext) -> str:
    return f"{ctx.engine.data_directory}/{ctx.engine.data_subdirectory}"


def server_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """The official image's initialisation variables, with every password from the Secret."""
    if ctx.spec.engine is Engine.MYSQL:
        env = [
            secret_env("MYSQL_ROOT_PASSWORD", ctx, "admin-password"),
            EnvVarArgs(name="MYSQL_DATABASE", value=ctx.database_name),
            secret_env("MYSQL_USER", ctx, "username"),
            secret_env("MYSQL_PASSWORD", ctx, "password"),
        ]
    else:
        env = [
            secret_env("POSTGRES_USER", ctx, "admin-username"),
            secret_env("POSTGRES_PASSWORD", ctx, "admin-password"),
            EnvVarArgs(name="POSTGRES_DB", value=ctx.database_name),
            EnvVarArgs(name="PGDATA", value=data_path(ctx)),
            secret_env("APP_USER", ctx, "username"),
            secret_env("APP_PASSWORD", ctx, "password"),
        ]
    if ctx.restore is not None:
        env.append(EnvVarArgs(name="RESTORE_FILE", value=f"{RESTORE_DIRECTORY}/{ctx.restore.file}"))
    return env + replication_env(ctx)


def server_command(ctx: DatabaseContext) -> list[str] | None:
    """MySQL starts through start-mysql.sh, which gives each pod its server id (and replicas read-only)."""
    if ctx.spec.engine is Engine.MYSQL:
        return ["sh", f"{POD_SCRIPTS_DIRECTORY}/start-mysql.sh", "docker-entrypoint.sh"]
    return None


def server_args(ctx: DatabaseContext) -> list[str]:
    """PostgreSQL is told where its config file is; MySQL finds it through the image's `!includedir`."""
    if ctx.spec.engine is Engine.POSTGRESQL:
        return ["postgres", "-c", f"config_file={ctx.engine.config_directory}/{ctx.engine.config_file}"]
    return ["mysqld"]


def readiness_command(ctx: DatabaseContext) -> list[str]:
    """Ready means the primary accepts queries (MySQL) or connections (PostgreSQL), and a replica replicates."""
    return ["sh", f"{POD_SCRIPTS_DIRECTORY}/ready-{ctx.spec.engine.value}.sh"]


def liveness_command(ctx: DatabaseContext) -> list[str]:
    """Alive means the server process answers at all; a wrong password must not get it killed."""
    port = ctx.engine.port
    if ctx.spec.engine is Engine.MYSQL:
        return ["mysqladmin", "ping", "-h", "127.0.0.1", "-P", str(port), "--silent"]
    return ["sh", "-c", f'pg_isready -h 127.0.0.1 -p {port} -U "$POSTGRES_USER"']


def init_scripts(ctx: DatabaseContext) -> dict[str, str]:
    """Scripts the official image runs once on an empty data directory, in name order, before the server
    accepts clients: the application user (PostgreSQL), the restore of a backup when asked for, then
    replication (the replication user on the primary; for MySQL replicas, the copy of the primary)."""
    engine = ctx.spec.engine.value
    scripts = {"10-app-user.sh": script("init-postgresql-app-user.sh")} if ctx.spec.engine is Engine.POSTGRESQL else {}
    if ctx.restore is not None:
        scripts["20-restore.sh"] = script(f"restore-{engine}.sh")
    scripts["30-replication.sh"] = script(f"init-{engine}-replication.sh")
    return scripts


def pod_scripts(ctx: DatabaseContext) -> dict[str, str]:
    """Scripts the pods run from POD_SCRIPTS_DIRECTORY: readiness, and the start (MySQL) or the copy of the
    primary for a new replica (PostgreSQL, in an init container)."""
    names = [f"ready-{ctx.spec.engine.value}.sh"]
    names.append("start-mysql.sh" if ctx.spec.engine is Engine.MYSQL else "clone-postgresql.sh")
    return {name: script(name) for name in names}


def exporter_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    if ctx.spec.engine is Engine.MYSQL:
        return [secret_env("MYSQLD_EXPORTER_PASSWORD", ctx, "admin-password")]
    return [
        EnvVarArgs(name="DATA_SOURCE_URI", value=f"127.0.0.1:{ctx.engine.port}/postgres?sslmode=disable"),
        secret_env("DATA_SOURCE_USER", ctx, "admin-username"),
        secret_env("DATA_SOURCE_PASS", ctx, "admin-password"),
    ]


def exporter_args(ctx: DatabaseContext) -> list[str]:
    if ctx.spec.engine is Engine.MYSQL:
        return [f"--mysqld.address=127.0.0.1:{ctx.engine.port}", "--mysqld.username=root"]
    return []


def backup_script_name(ctx: DatabaseContext) -> str:
    return f"backup-{ctx.spec.engine.value}.sh"

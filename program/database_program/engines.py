"""What differs between the engines inside the objects: config syntax, env names, commands, probes, tools.

Numbers and paths live in `stacks-config/engines.yaml`; this module holds only the engine's conventions.
"""

from importlib.resources import files

from pulumi_kubernetes.core.v1 import EnvVarArgs, EnvVarSourceArgs, ObjectFieldSelectorArgs, SecretKeySelectorArgs

from database_api.names import MAY_INITIALISE_ANNOTATION, POD_INDEX_LABEL, ROLE_LABEL
from database_api.profiles import Engine, ExporterConnection
from database_program import tls
from database_program.context import DatabaseContext, RestoreSource

MYSQL_FAMILY = frozenset({Engine.MYSQL, Engine.MARIADB})
ADMIN_USERNAME = {Engine.MYSQL: "root", Engine.MARIADB: "root", Engine.POSTGRESQL: "postgres"}
SERVER_BINARY = {Engine.MYSQL: "mysqld", Engine.MARIADB: "mariadbd"}
ADMIN_TOOL = {Engine.MYSQL: "mysqladmin", Engine.MARIADB: "mariadb-admin"}
"""MariaDB's own names: MariaDB 11 images no longer carry the mysql* ones."""
RESTORE_DIRECTORY = "/restore"
"""Where a restored Database's bootstrap init container finds the one dump it loads (mounted read-only)."""
POD_SCRIPTS_DIRECTORY = "/scripts"
"""Where the database pods mount the product's scripts: bootstrap, restore, start, readiness, failover steps."""
POD_INFO_DIRECTORY = "/podinfo"
"""Where the database pods see their own role label and may-initialise annotation (downward API volume: the files
follow the pod's metadata while it runs, unlike variables)."""
POD_INFO_FILES = {
    "role": f"metadata.labels['{ROLE_LABEL}']",
    "may-initialise": f"metadata.annotations['{MAY_INITIALISE_ANNOTATION}']",
}
APP_USERNAME = "app"
REPLICATION_USERNAME = "replicator"
EXPORTER_USERNAME = "exporter"
BACKUP_USERNAME = "backup"


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


def mysql_family(ctx: DatabaseContext) -> bool:
    """MariaDB and MySQL share the config syntax, the scripts and the tools' conventions."""
    return ctx.spec.engine in MYSQL_FAMILY


def script_family(ctx: DatabaseContext) -> str:
    """The name the shipped scripts carry for this engine: `mysql` (MariaDB and MySQL) or `postgresql`."""
    return Engine.MYSQL.value if mysql_family(ctx) else Engine.POSTGRESQL.value


def server_settings(ctx: DatabaseContext) -> dict[str, str | int]:
    """Engine settings: the engine's base, then the environment's tuning, then logging when asked for."""
    settings: dict[str, str | int] = {**ctx.engine.settings, **ctx.environment.engine_settings[ctx.spec.engine]}
    if mysql_family(ctx):
        settings["datadir"] = data_path(ctx)
    settings.update(tls.server_settings(ctx))
    if ctx.spec.monitoring.enabled and ctx.spec.monitoring.logging:
        settings.update(ctx.engine.logging_settings)
    if ctx.environment.synchronous_replication and ctx.spec.replicas >= 2:
        settings.update(ctx.engine.synchronous_settings)
    return settings


def render_config(ctx: DatabaseContext) -> str:
    """The engine's configuration file. MariaDB/MySQL read an INI `[mysqld]` section; PostgreSQL `key = value`."""
    lines = [f"{key} = {value}" for key, value in server_settings(ctx).items()]
    header = "[mysqld]\n" if mysql_family(ctx) else ""
    return header + "\n".join(lines) + "\n"


def image(ctx: DatabaseContext) -> str:
    """The engine's image (stacks-config: official by default, or any image meeting the contract) at the spec's
    version: the bootstrap, the server and the backup all run it."""
    return f"{ctx.engine.image}:{ctx.spec.version}"


def data_path(ctx: DatabaseContext) -> str:
    return f"{ctx.engine.data_directory}/{ctx.engine.data_subdirectory}"


def config_path(ctx: DatabaseContext) -> str:
    return f"{ctx.engine.config_directory}/{ctx.engine.config_file}"


def admin_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """The admin account, for the readiness and liveness probes (and the bootstrap)."""
    return [secret_env("ADMIN_USER", ctx, "admin-username"), secret_env("ADMIN_PASSWORD", ctx, "admin-password")]


def pod_env() -> list[EnvVarArgs]:
    """This pod's ordinal (its server id) and where it reads the role the operator gave it."""
    return [
        EnvVarArgs(
            name="POD_INDEX",
            value_from=EnvVarSourceArgs(
                field_ref=ObjectFieldSelectorArgs(field_path=f"metadata.labels['{POD_INDEX_LABEL}']")
            ),
        ),
        EnvVarArgs(name="ROLE_FILE", value=f"{POD_INFO_DIRECTORY}/role"),
    ]


def restore_file(restore: RestoreSource) -> str:
    """Where the bootstrap finds the dump it loads."""
    return f"{RESTORE_DIRECTORY}/{restore.file}"


def client_tls_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """How the engine's own clients verify the server (replicas copying the primary, and from then on streaming from
    it; backup Jobs): the CA from the `<name>-ca` ConfigMap, and the host name in the certificate.
    PostgreSQL's libpq reads PGSSLMODE/PGSSLROOTCERT (pg_basebackup writes them into primary_conninfo); the
    MariaDB/MySQL scripts add CLIENT_TLS_OPTIONS to every client over TCP."""
    if not mysql_family(ctx):
        return [
            EnvVarArgs(name="PGSSLMODE", value="verify-full"),
            EnvVarArgs(name="PGSSLROOTCERT", value=tls.CA_FILE),
        ]
    verify = "--ssl-verify-server-cert" if ctx.spec.engine is Engine.MARIADB else "--ssl-mode=VERIFY_IDENTITY"
    return [
        EnvVarArgs(name="CLIENT_TLS_OPTIONS", value=f"--ssl-ca={tls.CA_FILE} {verify}"),
        EnvVarArgs(name="TLS_CA_FILE", value=tls.CA_FILE),
    ]


def bootstrap_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """What bootstrap-<engine>.sh needs: where the data goes, every account (passwords from the Secrets: the
    bootstrap makes or updates them), the primary to copy, the dump to restore, and the image contract to check."""
    data = EnvVarArgs(name="PGDATA", value=data_path(ctx))
    if mysql_family(ctx):
        data = EnvVarArgs(name="DATADIR", value=data_path(ctx))
    env = [
        data,
        *pod_env(),
        EnvVarArgs(name="MAY_INITIALISE_FILE", value=f"{POD_INFO_DIRECTORY}/may-initialise"),
        *admin_env(ctx),
        secret_env("APP_USER", ctx, "username"),
        secret_env("APP_PASSWORD", ctx, "password"),
        EnvVarArgs(name="DATABASE", value=ctx.database_name),
        secret_env("REPLICATION_USER", ctx, "username", ctx.replication_secret_name),
        secret_env("REPLICATION_PASSWORD", ctx, "password", ctx.replication_secret_name),
        secret_env("EXPORTER_USER", ctx, "username", ctx.exporter_secret_name),
        secret_env("EXPORTER_PASSWORD", ctx, "password", ctx.exporter_secret_name),
        secret_env("BACKUP_USER", ctx, "username", ctx.backup_secret_name),
        secret_env("BACKUP_PASSWORD", ctx, "password", ctx.backup_secret_name),
        EnvVarArgs(name="PRIMARY_HOST", value=ctx.primary_host),
        EnvVarArgs(name="IMAGE_COMMANDS", value=" ".join(ctx.engine.image_commands)),
        *client_tls_env(ctx),
        *tls_files_env(),
    ]
    if mysql_family(ctx):
        env.append(EnvVarArgs(name="CONFIG_FILE", value=config_path(ctx)))
    if ctx.restore is not None:
        env.append(EnvVarArgs(name="RESTORE_FILE", value=restore_file(ctx.restore)))
    return env


def bootstrap_command(ctx: DatabaseContext) -> list[str]:
    return ["sh", f"{POD_SCRIPTS_DIRECTORY}/bootstrap-{script_family(ctx)}.sh"]


def server_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """The server container needs only what its probes, start script and the operator's failover steps
    (ha-<engine>.sh) read: no initialisation variables. A MariaDB/MySQL server may have to follow a new primary
    (the replication account, over verified TLS); a PostgreSQL standby has its source in its own data directory.
    (Not PGSSLMODE: a replica made before TLS would then insist on verified TLS from a primary that, early in the
    rolling update, offers none, and never become ready for the update to reach the primary. Its libpq default,
    `prefer`, uses TLS as soon as the primary offers it, and tls-reload moves it to verify-full once the primary
    passes verification: tls.sh standby_tls.)"""
    env = [*pod_env(), *admin_env(ctx)]
    if mysql_family(ctx):
        return [
            *env,
            secret_env("REPLICATION_USER", ctx, "username", ctx.replication_secret_name),
            secret_env("REPLICATION_PASSWORD", ctx, "password", ctx.replication_secret_name),
            EnvVarArgs(name="PRIMARY_HOST", value=ctx.primary_host),
            EnvVarArgs(name="DATADIR", value=data_path(ctx)),
            EnvVarArgs(name="TLS_CA_FILE", value=tls.CA_FILE),
        ]
    return [*env, EnvVarArgs(name="PGDATA", value=data_path(ctx))]


def tls_files_env() -> list[EnvVarArgs]:
    """tls.sh (run by the bootstrap, and by the tls-reload container): where the Secret and the private copy are."""
    return [
        EnvVarArgs(name="SECRET_DIR", value=tls.SECRET_DIRECTORY),
        EnvVarArgs(name="PRIVATE_DIR", value=tls.PRIVATE_DIRECTORY),
    ]


def tls_reload_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """The tls-reload container's: the files, and the superuser, who makes the server reread them through the
    local socket (psql's default socket directory is the server's, /var/run/postgresql). A replica made before TLS
    is moved to verified TLS (tls.sh replication_tls): the CA's path the server reads, and for a PostgreSQL
    standby the replication account, which checks first that the primary serves verified TLS."""
    ca = EnvVarArgs(name="TLS_CA_FILE", value=tls.CA_FILE)
    if mysql_family(ctx):
        return [*tls_files_env(), secret_env("ADMIN_PASSWORD", ctx, "admin-password"), ca]
    return [
        *tls_files_env(),
        secret_env("ADMIN_USER", ctx, "admin-username"),
        ca,
        secret_env("REPLICATION_USER", ctx, "username", ctx.replication_secret_name),
        secret_env("REPLICATION_PASSWORD", ctx, "password", ctx.replication_secret_name),
    ]


def tls_reload_command(ctx: DatabaseContext) -> list[str]:
    return ["sh", f"{POD_SCRIPTS_DIRECTORY}/tls.sh", "watch", script_family(ctx)]


def server_command(ctx: DatabaseContext) -> list[str]:
    """The server binary itself on the ConfigMap's configuration, never the image's entrypoint, through the start
    script: MariaDB/MySQL's gives each pod its server id (and all but the primary read-only); PostgreSQL's refuses
    to run a fenced old primary."""
    start = ["sh", f"{POD_SCRIPTS_DIRECTORY}/start-{script_family(ctx)}.sh"]
    if mysql_family(ctx):
        return [*start, SERVER_BINARY[ctx.spec.engine], f"--defaults-file={config_path(ctx)}"]
    return [*start, "postgres", "-D", data_path(ctx), "-c", f"config_file={config_path(ctx)}"]


def readiness_command(ctx: DatabaseContext) -> list[str]:
    """Ready means the primary accepts queries (MariaDB/MySQL) or connections (PostgreSQL), and a replica
    replicates."""
    return ["sh", f"{POD_SCRIPTS_DIRECTORY}/ready-{script_family(ctx)}.sh"]


def liveness_command(ctx: DatabaseContext) -> list[str]:
    """Alive means the server process answers at all; a wrong password must not get it killed."""
    port = ctx.engine.port
    if mysql_family(ctx):
        return [ADMIN_TOOL[ctx.spec.engine], "ping", "-h", "127.0.0.1", "-P", str(port), "--silent"]
    return ["sh", "-c", f'pg_isready -h 127.0.0.1 -p {port} -U "$ADMIN_USER"']


def pod_scripts(ctx: DatabaseContext) -> dict[str, str]:
    """Scripts the pods run from POD_SCRIPTS_DIRECTORY: the bootstrap (and the restore it runs), the start,
    readiness, the certificate's copy and reload, and the failover steps the operator runs in the server container."""
    family = script_family(ctx)
    names = ["bootstrap-lib.sh", f"bootstrap-{family}.sh", f"start-{family}.sh", f"ready-{family}.sh", "tls.sh"]
    names.append(f"ha-{family}.sh")
    if ctx.restore is not None:
        names.append(f"restore-{family}.sh")
    return {name: script(name) for name in names}


EXPORTER_CONFIG_DIRECTORY = "/etc/exporter"
"""Where the exporter container mounts its files from the `<name>-config` ConfigMap (monitoring.exporter_files)."""
EXPORTER_CLIENT_FILE = "exporter-my.cnf"
"""mysqld_exporter 0.15+'s client file (`--config.my-cnf`): the CA it verifies the server with. No password: the
exporter takes that from MYSQLD_EXPORTER_PASSWORD."""


def exporter_env(ctx: DatabaseContext) -> list[EnvVarArgs]:
    """The exporter's own account (monitoring grants only; from 127.0.0.1 only) in the form its version reads
    (stacks-config's `exporter.connection`); the password only from the Secret, composed into DATA_SOURCE_NAME by
    Kubernetes' `$(VAR)` expansion, never on a command line. Every form verifies the server against the Database's
    CA (the `<name>-ca` ConfigMap at tls.CA_DIRECTORY) and the name it connects to, which the certificate holds."""
    address = f"127.0.0.1:{ctx.engine.port}"
    match ctx.engine.exporter.connection:
        case ExporterConnection.MYSQLD_FLAGS:
            return [secret_env("MYSQLD_EXPORTER_PASSWORD", ctx, "password", ctx.exporter_secret_name)]
        case ExporterConnection.DATA_SOURCE_NAME:
            # 0.14 and older read a CA only from a my.cnf, which would have to hold the password too (they ignore
            # the file when DATA_SOURCE_NAME is set). `tls=true` verifies against the system's CAs, which Go reads
            # from SSL_CERT_FILE and SSL_CERT_DIR (in place of the image's): the Database's CA alone.
            data_source = f"{EXPORTER_USERNAME}:$(EXPORTER_PASSWORD)@tcp({address})/?tls=true"
            return [
                secret_env("EXPORTER_PASSWORD", ctx, "password", ctx.exporter_secret_name),
                EnvVarArgs(name="DATA_SOURCE_NAME", value=data_source),
                EnvVarArgs(name="SSL_CERT_FILE", value=tls.CA_FILE),
                EnvVarArgs(name="SSL_CERT_DIR", value=tls.CA_DIRECTORY),
            ]
        case ExporterConnection.DATA_SOURCE_URI:
            return [
                EnvVarArgs(
                    name="DATA_SOURCE_URI",
                    value=f"localhost:{ctx.engine.port}/postgres?sslmode=verify-full&sslrootcert={tls.CA_FILE}",
                ),
                secret_env("DATA_SOURCE_USER", ctx, "username", ctx.exporter_secret_name),
                secret_env("DATA_SOURCE_PASS", ctx, "password", ctx.exporter_secret_name),
            ]


def exporter_client_config(ctx: DatabaseContext) -> str | None:
    """mysqld_exporter 0.15+'s my.cnf: its `[client]` ssl-ca makes it verify the server (a custom TLS
    configuration; the driver checks the address it connects to, 127.0.0.1, against the certificate). Host, port
    and user come from its flags, the password from its variable. None for the other connection forms."""
    if ctx.engine.exporter.connection is not ExporterConnection.MYSQLD_FLAGS:
        return None
    return f"[client]\nssl-ca = {tls.CA_FILE}\n"


def exporter_args(ctx: DatabaseContext) -> list[str]:
    """Only mysqld_exporter 0.15+ takes the address, account and client file as flags; older versions refuse
    them."""
    if ctx.engine.exporter.connection is ExporterConnection.MYSQLD_FLAGS:
        return [
            f"--mysqld.address=127.0.0.1:{ctx.engine.port}",
            f"--mysqld.username={EXPORTER_USERNAME}",
            f"--config.my-cnf={EXPORTER_CONFIG_DIRECTORY}/{EXPORTER_CLIENT_FILE}",
        ]
    return []


def backup_script_name(ctx: DatabaseContext) -> str:
    return f"backup-{script_family(ctx)}.sh"

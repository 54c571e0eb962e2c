"""The data in `stacks-config/`: what differs per engine and per environment.

Loaded and validated once at start-up; the operator hands the relevant parts to each stack as configuration,
so changing a number in `stacks-config/` changes what gets deployed without any code change.
"""

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from database_api.quantity import QUANTITY_PATTERN, parse_quantity
from database_api.schedule import parse_duration, validate_cron

STACKS_CONFIG_ENV = "DATABASE_STACKS_CONFIG"
"""Environment variable that points at the `stacks-config/` directory or an overlay of it (default: the one in the
checkout)."""


class Engine(StrEnum):
    MYSQL = "mysql"
    MARIADB = "mariadb"
    POSTGRESQL = "postgresql"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"


class UpdatePolicy(StrEnum):
    AUTOMATIC = "Automatic"
    """Every spec change is applied as soon as it is stored."""
    REQUIRE_APPROVAL = "RequireApproval"
    """Every spec change is previewed into a plan that a person approves before it is applied."""


class Camel(BaseModel):
    """Base for models that speak the camelCase of Kubernetes YAML and reject unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


_QUANTITY_SCHEMA: JsonDict = {"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN, "maxLength": 32}


class ComputeResources(Camel):
    cpu: str | None = Field(
        default=None, description="CPU quantity, e.g. 500m or 2.", json_schema_extra=_QUANTITY_SCHEMA
    )
    memory: str | None = Field(
        default=None, description="Memory quantity, e.g. 512Mi or 4Gi.", json_schema_extra=_QUANTITY_SCHEMA
    )

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _is_quantity(cls, value: object) -> str | None:
        """Accept `cpu: 2` as Kubernetes does; reject anything that is not a positive quantity."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{value!r} is not a quantity")
        text = str(value)
        if parse_quantity(text) <= 0:
            raise ValueError(f"must be greater than zero (got {text})")
        return text


class ResourceRequirements(Camel):
    requests: ComputeResources | None = Field(default=None, description="Resources the scheduler reserves.")
    limits: ComputeResources | None = Field(default=None, description="Hard ceilings enforced at run time.")


class BackupDefaults(Camel):
    schedule: str
    retention: str
    storage_size: str = Field(description="Size of the backup volume the program creates.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return validate_cron(value)

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class EnvironmentProfile(Camel):
    """One file in `stacks-config/environments/`."""

    replicas: int = Field(ge=1, le=10, description="Replicas when the spec does not say.")
    min_replicas: int = Field(ge=1, le=10, description="Fewest replicas this environment accepts.")
    require_resource_limits: bool
    resources: ResourceRequirements
    backup: BackupDefaults
    deletion_policy: DeletionPolicy
    update_policy: UpdatePolicy = Field(description="Whether spec changes need an approved plan before they apply.")
    high_availability: bool = Field(description="Declare a PodDisruptionBudget and pod anti-affinity.")
    availability_target: str | None = None
    engine_settings: dict[Engine, dict[str, str | int]] = Field(
        description="Engine configuration values for this environment, merged over the engine's base settings."
    )
    server_certificate_days: int = Field(
        default=90,
        ge=1,
        le=825,
        description="Lifetime of a Database's server certificate; the operator renews it two thirds into its life.",
    )
    synchronous_replication: bool = Field(
        default=False,
        description="A commit is acknowledged only once a replica has it (the engine's `synchronousSettings`), so "
        "a failover loses no acknowledged write. Only with replicas: a lone primary would wait forever.",
    )


class ExporterConnection(StrEnum):
    """How an exporter version takes the server's address and account: its flags differ between versions, and an
    exporter refuses a flag it does not know."""

    MYSQLD_FLAGS = "mysqldFlags"
    """mysqld_exporter 0.15 and later: `--mysqld.address`, `--mysqld.username`, the password in
    MYSQLD_EXPORTER_PASSWORD."""
    DATA_SOURCE_NAME = "dataSourceName"
    """mysqld_exporter 0.14 and earlier (Debian bookworm's): one DSN in DATA_SOURCE_NAME (removed in 0.15)."""
    DATA_SOURCE_URI = "dataSourceUri"
    """postgres_exporter (0.8 and later): DATA_SOURCE_URI, DATA_SOURCE_USER and DATA_SOURCE_PASS."""


EXPORTER_CONNECTIONS = {
    Engine.MYSQL: frozenset({ExporterConnection.MYSQLD_FLAGS, ExporterConnection.DATA_SOURCE_NAME}),
    Engine.MARIADB: frozenset({ExporterConnection.MYSQLD_FLAGS, ExporterConnection.DATA_SOURCE_NAME}),
    Engine.POSTGRESQL: frozenset({ExporterConnection.DATA_SOURCE_URI}),
}
"""What each engine's exporter (mysqld_exporter, postgres_exporter) understands."""


class QueryColumn(Camel):
    """One column of a custom exporter query, as postgres_exporter's queries file spells it."""

    usage: Literal["LABEL", "COUNTER", "GAUGE", "DISCARD"]
    description: str


class ExporterQuery(Camel):
    """One entry of postgres_exporter's custom queries file: each column becomes `<entry>_<column>`."""

    query: str
    metrics: list[dict[str, QueryColumn]]


class ExporterProfile(Camel):
    image: str
    port: int
    connection: ExporterConnection = Field(
        description="How this exporter version is told the server's address and account (set it with the image)."
    )
    queries: dict[str, ExporterQuery] | None = Field(
        default=None,
        description="postgres_exporter only: custom queries for a metric this version lacks (its queries file, "
        "PG_EXPORTER_EXTEND_QUERY_PATH), e.g. pg_replication_lag_seconds before 0.13.",
    )


class EngineProfile(Camel):
    """One entry of `stacks-config/engines.yaml`."""

    image: str = Field(description="Image repository; the spec's version is the tag. A private registry goes here.")
    image_commands: list[str] = Field(
        description="What the image must carry on its PATH (the image contract); the bootstrap checks it first."
    )
    port: int
    data_directory: str
    data_subdirectory: str = Field(
        description="Where the data lives inside the volume, so lost+found never gets in the way."
    )
    config_directory: str
    config_file: str
    minimum_version: str = Field(
        pattern=r"^[0-9]+(\.[0-9]+){0,2}$",
        description="Oldest version the program's configuration and bootstrap are valid for, e.g. 8 or 10.6.",
    )
    run_as_user: int
    settings: dict[str, str | int]
    logging_settings: dict[str, str | int] = Field(description="Added when monitoring.logging is on.")
    synchronous_settings: dict[str, str | int] = Field(
        default_factory=dict,
        description="Added when the environment replicates synchronously and the Database has replicas.",
    )
    exporter: ExporterProfile


class StacksConfig(BaseModel):
    """All of `stacks-config/`, validated."""

    model_config = ConfigDict(frozen=True)

    engines: dict[Engine, EngineProfile]
    environments: dict[Environment, EnvironmentProfile]

    @model_validator(mode="after")
    def _exporter_speaks_to_its_engine(self) -> "StacksConfig":
        for engine, profile in self.engines.items():
            connection = profile.exporter.connection
            if connection not in EXPORTER_CONNECTIONS[engine]:
                allowed = ", ".join(sorted(EXPORTER_CONNECTIONS[engine]))
                raise ValueError(f"engines.{engine}.exporter.connection: {connection} is not one of {allowed}")
            if profile.exporter.queries is not None and engine is not Engine.POSTGRESQL:
                raise ValueError(f"engines.{engine}.exporter.queries: only postgres_exporter reads custom queries")
        return self

    def engine(self, engine: Engine) -> EngineProfile:
        return self.engines[engine]

    def environment(self, environment: Environment) -> EnvironmentProfile:
        return self.environments[environment]


def default_stacks_config_dir() -> Path:
    configured = os.environ.get(STACKS_CONFIG_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "stacks-config"


OVERLAY_FILE = "overlay.yaml"
"""A directory holding this file is an overlay of another stacks-config directory: `base` names it (relative to
the overlay), `engines` and `environments` hold only the values that differ, merged key by key over the base."""


def _merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in change.items():
        both_mappings = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if both_mappings else value
    return merged


def _read_stacks_config(root: Path) -> dict[str, Any]:
    overlay_file = root / OVERLAY_FILE
    if overlay_file.exists():
        overlay = yaml.safe_load(overlay_file.read_text())
        keys = set(overlay) if isinstance(overlay, dict) else set()
        if "base" not in keys or keys - {"base", "engines", "environments"}:
            allowed = "needs `base`, may have `engines` and `environments`"
            raise ValueError(f"{overlay_file}: {allowed} (got {', '.join(sorted(keys)) or repr(overlay)})")
        base = _read_stacks_config(root / overlay.pop("base"))
        return _merged(base, overlay)
    return {
        "engines": yaml.safe_load((root / "engines.yaml").read_text()),
        "environments": {
            environment.value: yaml.safe_load((root / "environments" / f"{environment.value}.yaml").read_text())
            for environment in Environment
        },
    }


def load_stacks_config(directory: Path | None = None) -> StacksConfig:
    """Read and validate `stacks-config/` (or an overlay of it); a missing engine or environment is an error, not a
    silent default."""
    root = directory or default_stacks_config_dir()
    config = StacksConfig.model_validate(_read_stacks_config(root))
    missing = set(Engine) - set(config.engines)
    if missing:
        raise ValueError(f"{root / 'engines.yaml'}: no entry for {', '.join(sorted(missing))}")
    return config

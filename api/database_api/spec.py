"""The Database spec: the one model the CRD schema, the admission checks, the operator and the program share."""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic.config import JsonDict

from database_api.network import NetworkSpec
from database_api.profiles import (
    Camel,
    DeletionPolicy,
    Engine,
    Environment,
    ResourceRequirements,
    StacksConfig,
    UpdatePolicy,
)
from database_api.quantity import QUANTITY_PATTERN, parse_quantity
from database_api.schedule import CRON_SHAPE_PATTERN, DURATION_PATTERN, parse_duration, validate_cron
from database_api.transitions import POSTGRESQL_MAJOR_CHANGE

# A Docker image tag that starts with a numeric version: `8.0`, `8.4.3`, `16`, `16.4-bookworm`.
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+){0,2}([-_.][A-Za-z0-9_.-]*)?$"
_VERSION = re.compile(VERSION_PATTERN)
_MAX_TAG_LENGTH = 128
T = TypeVar("T")


def _immutable(message: str) -> JsonDict:
    return {"rule": "self == oldSelf", "message": message}


class DriftPolicy(StrEnum):
    CORRECT = "Correct"
    REPORT = "Report"


def version_numbers(version: str) -> tuple[int, int, int]:
    """Major, minor and patch of a version tag, for ordering (missing ones are 0, as in the CRD's CEL rules):
    `16.4-bookworm` -> (16, 4, 0)."""
    match = re.match(r"[0-9]+(\.[0-9]+){0,2}", version)
    if match is None:
        raise ValueError(f"{version!r} does not start with a version number")
    major, minor, patch = (*(int(part) for part in match.group(0).split(".")), 0, 0)[:3]
    return major, minor, patch


class StorageSpec(Camel):
    size: str = Field(
        json_schema_extra={
            "pattern": QUANTITY_PATTERN,
            "maxLength": 32,  # bounds the cost the API server estimates for the CEL rule below
            "x-kubernetes-validations": [
                {
                    "rule": "quantity(self).compareTo(quantity(oldSelf)) >= 0",
                    "messageExpression": "'storage cannot shrink (from ' + oldSelf + ' to ' + self + ')'",
                }
            ],
        },
        description="Size of each replica's data volume, e.g. 10Gi. May grow, never shrink.",
    )
    storage_class: str | None = Field(
        default=None,
        alias="class",
        min_length=1,
        max_length=253,
        description="StorageClass of the data volumes; the cluster's default class when unset. Cannot change.",
        json_schema_extra={"x-kubernetes-validations": [_immutable("spec.storage.class cannot change")]},
    )

    @field_validator("size")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_quantity(value) <= 0:
            raise ValueError(f"must be greater than zero (got {value})")
        return value


class BackupSpec(Camel):
    enabled: bool = Field(default=False, description="Run scheduled dumps of the database.")
    schedule: str | None = Field(
        default=None,
        json_schema_extra={"pattern": CRON_SHAPE_PATTERN, "maxLength": 128},
        description="Cron schedule of the backups (5 fields or @daily-style); environment default 0 2 * * *.",
    )
    retention: str | None = Field(
        default=None,
        json_schema_extra={"pattern": DURATION_PATTERN, "maxLength": 16},
        description="How long scheduled dumps are kept: a whole number and a unit m, h, d or w (e.g. 7d).",
    )
    storage_size: str | None = Field(
        default=None,
        json_schema_extra={
            "pattern": QUANTITY_PATTERN,
            "maxLength": 32,
            "x-kubernetes-validations": [
                {
                    "rule": "quantity(self).compareTo(quantity(oldSelf)) >= 0",
                    "messageExpression": "'backup storage cannot shrink (from ' + oldSelf + ' to ' + self + ')'",
                }
            ],
        },
        description="Size of the backup volume, e.g. 20Gi; environment default when unset. May grow, never shrink.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else validate_cron(value)

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("storage_size")
    @classmethod
    def _positive_size(cls, value: str | None) -> str | None:
        if value is not None and parse_quantity(value) <= 0:
            raise ValueError(f"must be greater than zero (got {value})")
        return value


class MonitoringSpec(Camel):
    enabled: bool = Field(default=False, description="Turn monitoring on; metrics and logging choose what.")
    metrics: bool = Field(default=False, description="Run a Prometheus exporter sidecar and expose its port.")
    logging: bool = Field(default=False, description="Log slow queries and connections to the container log.")


class RestoreSpec(Camel):
    backup: str = Field(
        min_length=1,
        max_length=253,
        description="Name of a succeeded DatabaseBackup in the same namespace; its dump is loaded on first start.",
    )


class DatabaseSpec(Camel):
    """What an application team asks for. Optional fields are filled from the environment's defaults."""

    type: Engine = Field(
        description="Database engine. Cannot change after creation.",
        json_schema_extra={"x-kubernetes-validations": [_immutable("spec.type cannot change after creation")]},
    )
    version: str = Field(
        json_schema_extra={"pattern": VERSION_PATTERN, "maxLength": _MAX_TAG_LENGTH},
        description="Tag of the engine image, e.g. 8.0 or 8.4 for mysql, 10.11 or 11.4 for mariadb, 16 for postgresql.",
    )
    replicas: int | None = Field(default=None, ge=1, le=10, description="Number of database pods, 1 to 10.")
    storage: StorageSpec = Field(description="Data volume of each replica.")
    # `default: {}` makes the API server store the nested defaults (enabled: false, ...) too.
    backup: BackupSpec = Field(
        default_factory=BackupSpec, description="Scheduled backups.", json_schema_extra={"default": {}}
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description="Metrics and logging.", json_schema_extra={"default": {}}
    )
    network: NetworkSpec = Field(
        default_factory=NetworkSpec,
        description="Who may connect (a NetworkPolicy admits nothing else).",
        json_schema_extra={"default": {}},
    )
    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="Sets resource, tuning, availability and deletion defaults; production has stricter rules.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory of the database container; environment defaults when unset."
    )
    deletion_policy: DeletionPolicy | None = Field(
        default=None,
        description="What happens to data volumes when the Database is deleted: Delete or Retain. "
        "Default: Retain in production, Delete elsewhere.",
    )
    drift_policy: DriftPolicy = Field(
        default=DriftPolicy.CORRECT,
        description="Correct: out-of-band changes are reverted. Report: they are only recorded in status.",
    )
    restore: RestoreSpec | None = Field(
        default=None,
        description="Initialise the new Database from a backup of another Database. Only at creation.",
        json_schema_extra={"x-kubernetes-validations": [_immutable("spec.restore cannot change")]},
    )
    update_policy: UpdatePolicy | None = Field(
        default=None,
        description="Automatic: spec changes apply at once. RequireApproval: each change is previewed into a plan "
        "(status.plan) and applied only once the Database is annotated database.example.com/approved-plan=<plan id>. "
        "Default per environment (RequireApproval in production).",
    )

    @field_validator("version")
    @classmethod
    def _image_tag(cls, value: str) -> str:
        if len(value) > _MAX_TAG_LENGTH or not _VERSION.match(value):
            raise ValueError(
                f"{value!r} is not an image tag that starts with a version number "
                "(examples: 8.0, 8.4.3, 16, 16.4-bookworm)"
            )
        return value


@dataclass(frozen=True)
class ResolvedBackup:
    schedule: str
    retention: str
    storage_size: str


@dataclass(frozen=True)
class ResolvedSpec:
    """A spec with every default filled in from its environment: what the program deploys."""

    engine: Engine
    version: str
    replicas: int
    storage_size: str
    storage_class: str | None
    backup: ResolvedBackup | None
    monitoring: MonitoringSpec
    network: NetworkSpec
    environment: Environment
    resources: ResourceRequirements
    deletion_policy: DeletionPolicy
    drift_policy: DriftPolicy


class SpecError(ValueError):
    """A Database spec that breaks a rule; each message names the field, e.g. `spec.replicas: ...`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _field_path(location: tuple[int | str, ...]) -> str:
    return ".".join(["spec", *(str(part) for part in location)])


def parse_spec(raw: object) -> DatabaseSpec:
    """Validate the shape of a spec; raise SpecError with one message per bad field."""
    try:
        return DatabaseSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(
            [
                f"{_field_path(detail['loc'])}: {detail['msg'].removeprefix('Value error, ')}"
                for detail in error.errors()
            ]
        ) from error


def with_defaults(spec: DatabaseSpec, config: StacksConfig) -> DatabaseSpec:
    """The spec as it should be stored: every default from the environment made explicit."""
    profile = config.environment(spec.environment)
    return spec.model_copy(
        update={
            "replicas": spec.replicas if spec.replicas is not None else profile.replicas,
            "backup": spec.backup.model_copy(
                update={
                    "schedule": spec.backup.schedule or profile.backup.schedule,
                    "retention": spec.backup.retention or profile.backup.retention,
                    "storage_size": spec.backup.storage_size or profile.backup.storage_size,
                }
            ),
            "resources": spec.resources or profile.resources,
            "deletion_policy": spec.deletion_policy or profile.deletion_policy,
            "update_policy": spec.update_policy or profile.update_policy,
        }
    )


def follow_environment(new: DatabaseSpec, old: DatabaseSpec, config: StacksConfig) -> DatabaseSpec:
    """When the environment changes, fields still holding the old environment's defaults (stored there by
    defaulting, not chosen by the user) are cleared, so the new environment's defaults apply. A field this
    very update changes is the user's choice and is kept, even if it equals an old default."""
    if new.environment == old.environment:
        return new
    stale = with_defaults(
        old.model_copy(
            update={
                "replicas": None,
                "resources": None,
                "deletion_policy": None,
                "update_policy": None,
                "backup": old.backup.model_copy(update={"schedule": None, "retention": None, "storage_size": None}),
            }
        ),
        config,
    )

    def follow(value: T, old_value: T, stale_default: T) -> T | None:
        return None if value == old_value == stale_default else value

    backup = new.backup.model_copy(
        update={
            "schedule": follow(new.backup.schedule, old.backup.schedule, stale.backup.schedule),
            "retention": follow(new.backup.retention, old.backup.retention, stale.backup.retention),
            "storage_size": follow(new.backup.storage_size, old.backup.storage_size, stale.backup.storage_size),
        }
    )
    return new.model_copy(
        update={
            "replicas": follow(new.replicas, old.replicas, stale.replicas),
            "resources": follow(new.resources, old.resources, stale.resources),
            "deletion_policy": follow(new.deletion_policy, old.deletion_policy, stale.deletion_policy),
            "update_policy": follow(new.update_policy, old.update_policy, stale.update_policy),
            "backup": backup,
        }
    )


def _rule_violations(spec: DatabaseSpec, config: StacksConfig) -> list[str]:
    """Business rules that need the environment's data. `spec` has its defaults filled already."""
    profile = config.environment(spec.environment)
    environment = spec.environment.value
    errors: list[str] = []
    if spec.replicas is not None and spec.replicas < profile.min_replicas:
        errors.append(
            f"spec.replicas: {environment} requires at least {profile.min_replicas} replicas (got {spec.replicas})"
        )
    if profile.require_resource_limits:
        limits = spec.resources.limits if spec.resources else None
        for resource in ("cpu", "memory"):
            if limits is None or getattr(limits, resource) is None:
                errors.append(f"spec.resources.limits.{resource}: {environment} requires resource limits")
    if spec.resources and spec.resources.requests and spec.resources.limits:
        for resource in ("cpu", "memory"):
            request = getattr(spec.resources.requests, resource)
            limit = getattr(spec.resources.limits, resource)
            if request and limit and parse_quantity(request) > parse_quantity(limit):
                errors.append(f"spec.resources.requests.{resource}: request {request} is larger than the limit {limit}")
    minimum = config.engine(spec.type).minimum_version
    if version_numbers(spec.version) < version_numbers(minimum):
        errors.append(f"spec.version: {spec.type.value} {spec.version} is not supported; use {minimum} or newer")
    return errors


def checked_spec(raw: object, config: StacksConfig) -> DatabaseSpec:
    """The spec with its defaults filled, after every rule passed; raise SpecError naming each bad field."""
    spec = with_defaults(parse_spec(raw), config)
    errors = _rule_violations(spec, config)
    if errors:
        raise SpecError(errors)
    return spec


def resolve_spec(raw: object, config: StacksConfig) -> ResolvedSpec:
    """Validate a raw spec against every rule and fill its defaults, as the program deploys it."""
    spec = checked_spec(raw, config)
    # with_defaults filled these; the checks narrow the types.
    assert spec.replicas is not None and spec.resources is not None and spec.deletion_policy is not None
    backup = None
    if spec.backup.enabled:
        assert spec.backup.schedule and spec.backup.retention and spec.backup.storage_size
        backup = ResolvedBackup(spec.backup.schedule, spec.backup.retention, spec.backup.storage_size)
    return ResolvedSpec(
        engine=spec.type,
        version=spec.version,
        replicas=spec.replicas,
        storage_size=spec.storage.size,
        storage_class=spec.storage.storage_class,
        backup=backup,
        monitoring=spec.monitoring,
        network=spec.network,
        environment=spec.environment,
        resources=spec.resources,
        deletion_policy=spec.deletion_policy,
        drift_policy=spec.drift_policy,
    )


def update_violations(old: DatabaseSpec, new: DatabaseSpec) -> list[str]:
    """Rules that compare a changed spec with the stored one."""
    errors: list[str] = []
    if new.type != old.type:
        errors.append(f"spec.type: cannot change after creation (from {old.type.value} to {new.type.value})")
    if parse_quantity(new.storage.size) < parse_quantity(old.storage.size):
        errors.append(f"spec.storage.size: storage cannot shrink (from {old.storage.size} to {new.storage.size})")
    old_backup, new_backup = old.backup.storage_size, new.backup.storage_size
    if old_backup and new_backup and parse_quantity(new_backup) < parse_quantity(old_backup):
        errors.append(f"spec.backup.storageSize: backup storage cannot shrink (from {old_backup} to {new_backup})")
    if new.storage.storage_class != old.storage.storage_class:
        errors.append(
            f"spec.storage.class: cannot change (from {old.storage.storage_class or 'the default class'} "
            f"to {new.storage.storage_class or 'the default class'})"
        )
    if new.restore != old.restore:
        errors.append("spec.restore: can only be set when the Database is created")
    if version_numbers(new.version) < version_numbers(old.version):
        errors.append(f"spec.version: downgrades are refused (from {old.version} to {new.version})")
    elif new.type is Engine.POSTGRESQL and version_numbers(new.version)[0] != version_numbers(old.version)[0]:
        errors.append(f"spec.version: {POSTGRESQL_MAJOR_CHANGE} (from {old.version} to {new.version})")
    return errors

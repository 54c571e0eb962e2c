"""Operator settings: plain typed fields, each read from one environment variable."""

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from database_api.network import OperatorPeers

BACKEND_URL_VARIABLE = "PULUMI_BACKEND_URL"
BACKEND_SCHEMES = ("file", "s3", "gs", "azblob", "https", "http")
"""Pulumi's state backends: a directory, the three object stores, and Pulumi Cloud (or a self-hosted service)."""


def _state_dir() -> Path:
    return Path(os.environ.get("DBOP_STATE_DIR", Path.home() / ".local" / "state" / "database-operator"))


@dataclass(frozen=True)
class OperatorSettings:
    state_dir: Path = field(default_factory=_state_dir)
    """Persistent directory for the default `file://` backend and the per-stack workspaces (`DBOP_STATE_DIR`)."""

    backend_url: str = ""
    """Pulumi state backend (`PULUMI_BACKEND_URL`): file://, s3:// (AWS or any S3-compatible server:
    `s3://<bucket>?endpoint=http://host:port&s3ForcePathStyle=true&region=<region>`, credentials from the AWS_*
    variables), gs://, azblob://, Pulumi Cloud; default `file://<state_dir>/backend`. Checked at start-up
    (state_backend.py)."""

    passphrase: str = ""
    """Passphrase of the stacks' secrets provider, from `PULUMI_CONFIG_PASSPHRASE` or the file named by
    `PULUMI_CONFIG_PASSPHRASE_FILE` (a mounted Secret)."""

    max_concurrent_operations: int = 4
    """Stack operations (up, refresh, destroy) running at once across all Databases (`DBOP_MAX_OPERATIONS`)."""

    drift_interval_seconds: float = 600.0
    """How often the Databases' owned objects are compared with what their last operation left, one LIST per kind
    for all of them; a Database whose objects changed or disappeared gets a drift check (`DBOP_DRIFT_INTERVAL`)."""

    full_refresh_interval_seconds: float = 6 * 3600.0
    """Longest time a Database goes without a drift check when its objects look unchanged
    (`DBOP_FULL_REFRESH_INTERVAL`): catches what object versions cannot show, e.g. an edited Secret."""

    drift_debounce_seconds: float = 2.0
    """Wait after an out-of-band change before checking, so a burst of edits costs one check."""

    operation_timeout_seconds: float = 900.0
    """Longest a stack operation may run (`DBOP_OPERATION_TIMEOUT`): one still running then is ended (its
    Pulumi processes are killed), reported, and retried after recovery. A lock a Pulumi process on another host
    took is taken over once it is older than this plus a minute, as its holder must have been ended by then."""

    shutdown_grace_seconds: float = 10.0
    """At shutdown, how long Pulumi processes get to end after SIGTERM before SIGKILL (`DBOP_SHUTDOWN_GRACE`)."""

    peering_lifetime_seconds: int = 15
    """Leader election (`DBOP_PEERING_LIFETIME`): a standby operator takes over at most this long after the
    leader died (a leader that stops hands over at once)."""

    failover_after_seconds: float = 5.0
    """How long the primary may be not ready before a replica is promoted (`DBOP_FAILOVER_AFTER`): long enough
    not to fail over for a blip, short enough that writes resume within seconds."""

    unwedge_after_seconds: float = 60.0
    """How long a pod of an old StatefulSet revision may be not ready during a rollout before it is deleted, so
    that the StatefulSet makes it again from the new template (`DBOP_UNWEDGE_AFTER`; unwedge.py): a StatefulSet
    never replaces a not-ready pod by itself, and the rollout would wait for it forever."""

    retry_base_seconds: float = 5.0
    """First delay after a transient failure; doubles each attempt (`DBOP_RETRY_BASE`)."""

    retry_max_seconds: float = 300.0
    """Longest delay between retries of a transient failure (`DBOP_RETRY_MAX`)."""

    retry_budget: int = 8
    """Attempts shown as `Retrying (attempt n of budget)`; after them the Database is Failed, and still retried
    every retry_max_seconds (`DBOP_RETRY_BUDGET`)."""

    namespaces: tuple[str, ...] = ()
    """Namespaces to watch (`DBOP_NAMESPACES`, comma-separated); empty means the whole cluster."""

    webhooks: bool = True
    """Serve the admission webhooks and keep their configurations in sync (`DBOP_WEBHOOKS=off` to disable)."""

    webhook_host: str = "127.0.0.1"
    """Host name or IP the API server calls the webhooks at, and the certificate's name (`DBOP_WEBHOOK_HOST`)."""

    webhook_bind: str = "127.0.0.1"
    """Address the webhook server listens on (`DBOP_WEBHOOK_BIND`; 0.0.0.0 in a cluster)."""

    webhook_port: int = 9443
    """Port of the webhook server (`DBOP_WEBHOOK_PORT`)."""

    webhook_service: str = ""
    """`namespace/name` of a Service in front of the operator (`DBOP_WEBHOOK_SERVICE`): in a cluster the API
    server reaches the webhooks through it; empty means the URL https://<webhook_host>:<webhook_port>."""

    webhook_tls_dir: Path | None = None
    """Directory with tls.crt, tls.key and ca.crt, e.g. a mounted Secret (`DBOP_WEBHOOK_TLS_DIR`); by default
    the operator makes and renews its own CA and certificate in `<state_dir>/webhook-tls`."""

    namespace: str = ""
    """The operator pod's namespace (`POD_NAMESPACE`, from the downward API) when it runs in the cluster: every
    Database's NetworkPolicy admits the operator's pods there to the exporter port, where it reads lag."""

    source_cidrs: tuple[str, ...] = ()
    """Addresses an operator outside the cluster reaches pods from (`DBOP_OPERATOR_CIDRS`, comma-separated
    CIDRs, e.g. the host's address on the node's network): the NetworkPolicies admit them to the exporter port."""

    @property
    def operator_peers(self) -> OperatorPeers:
        return OperatorPeers(namespace=self.namespace or None, cidrs=self.source_cidrs)

    @property
    def effective_backend_url(self) -> str:
        return self.backend_url or f"file://{self.state_dir / 'backend'}"

    @property
    def effective_webhook_tls_dir(self) -> Path:
        return self.webhook_tls_dir or self.state_dir / "webhook-tls"

    @property
    def workspaces_dir(self) -> Path:
        """One directory per stack with its `Pulumi.<stack>.yaml` (config, encrypted secrets, salt)."""
        return self.state_dir / "workspaces"


class SettingsError(ValueError):
    """A setting is missing or malformed; the operator refuses to start."""


def _read_passphrase() -> str:
    passphrase_file = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if passphrase_file:
        try:
            return Path(passphrase_file).read_text().strip()
        except OSError as error:
            raise SettingsError(f"PULUMI_CONFIG_PASSPHRASE_FILE: cannot read {passphrase_file}: {error}") from error
    passphrase = os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")
    if not passphrase:
        raise SettingsError(
            "no secrets passphrase: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
            "(the stacks' generated passwords are encrypted with it)"
        )
    return passphrase


def _backend_url() -> str:
    """PULUMI_BACKEND_URL, checked for what the CLI would only report at the first operation."""
    url = os.environ.get(BACKEND_URL_VARIABLE, "")
    if not url:
        return url
    parts = urlsplit(url)
    if parts.scheme not in BACKEND_SCHEMES:
        schemes = ", ".join(f"{scheme}://" for scheme in BACKEND_SCHEMES)
        raise SettingsError(f"{BACKEND_URL_VARIABLE}: {url!r} is not a Pulumi state backend URL (one of {schemes})")
    if parts.scheme in ("s3", "gs", "azblob") and not parts.netloc:
        raise SettingsError(f"{BACKEND_URL_VARIABLE}: {url!r} names no bucket ({parts.scheme}://<bucket>)")
    for endpoint in parse_qs(parts.query).get("endpoint", []):
        if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).hostname:
            raise SettingsError(
                f"{BACKEND_URL_VARIABLE}: endpoint {endpoint!r} is not an http:// or https:// URL with a host"
            )
    return url


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {raw!r} is not a number") from error
    if value <= 0:
        raise SettingsError(f"{name}: must be positive (got {raw})")
    return value


def _cidrs(name: str) -> tuple[str, ...]:
    """A comma-separated list of IP networks (an address alone is one host), each in its canonical form."""
    cidrs = []
    for raw in (item.strip() for item in os.environ.get(name, "").split(",")):
        if not raw:
            continue
        try:
            cidrs.append(str(ipaddress.ip_network(raw)))
        except ValueError as error:
            raise SettingsError(f"{name}: {raw!r} is not a CIDR such as 192.0.2.1/32 ({error})") from error
    return tuple(cidrs)


def load_settings() -> OperatorSettings:
    """Read the settings from the environment; raise SettingsError naming the variable when one is bad."""
    namespaces = tuple(ns.strip() for ns in os.environ.get("DBOP_NAMESPACES", "").split(",") if ns.strip())
    return OperatorSettings(
        backend_url=_backend_url(),
        passphrase=_read_passphrase(),
        max_concurrent_operations=int(_number("DBOP_MAX_OPERATIONS", 4)),
        drift_interval_seconds=_number("DBOP_DRIFT_INTERVAL", 600),
        full_refresh_interval_seconds=_number("DBOP_FULL_REFRESH_INTERVAL", 6 * 3600),
        operation_timeout_seconds=_number("DBOP_OPERATION_TIMEOUT", 900),
        shutdown_grace_seconds=_number("DBOP_SHUTDOWN_GRACE", 10),
        peering_lifetime_seconds=int(_number("DBOP_PEERING_LIFETIME", 15)),
        failover_after_seconds=_number("DBOP_FAILOVER_AFTER", 5),
        unwedge_after_seconds=_number("DBOP_UNWEDGE_AFTER", 60),
        retry_base_seconds=_number("DBOP_RETRY_BASE", 5),
        retry_max_seconds=_number("DBOP_RETRY_MAX", 300),
        retry_budget=int(_number("DBOP_RETRY_BUDGET", 8)),
        namespaces=namespaces,
        webhooks=os.environ.get("DBOP_WEBHOOKS", "on").lower() not in ("off", "false", "0", "no"),
        webhook_host=os.environ.get("DBOP_WEBHOOK_HOST", "127.0.0.1"),
        webhook_bind=os.environ.get("DBOP_WEBHOOK_BIND", "127.0.0.1"),
        webhook_port=int(_number("DBOP_WEBHOOK_PORT", 9443)),
        webhook_service=os.environ.get("DBOP_WEBHOOK_SERVICE", ""),
        webhook_tls_dir=Path(tls_dir) if (tls_dir := os.environ.get("DBOP_WEBHOOK_TLS_DIR")) else None,
        namespace=os.environ.get("POD_NAMESPACE", ""),
        source_cidrs=_cidrs("DBOP_OPERATOR_CIDRS"),
    )

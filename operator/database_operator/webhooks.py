"""The admission webhook server (TLS from certificates.py, reached by URL locally or through a Service in a
cluster) and the two webhook configurations that point the API server at it.

kopf could manage the configurations itself, but it always tries to create them first, and creation cannot be
limited to one name in RBAC: whoever may create one webhook configuration may create any, and so intercept any
request in the cluster. So the operator only reads and patches its own two configurations, by name (deploy/
creates them at install time), and creates them only where they are missing and it is allowed to (a local run
with an administrator's kubeconfig).
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import kopf

from database_api.crd import GROUP, PLURAL, VERSION
from database_operator.certificates import ensure_certificate
from database_operator.settings import OperatorSettings

NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
CONFIGURATION_NAME = GROUP
"""The name of both webhook configurations (mutating and validating): the only ones the operator may change."""


Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


@dataclass(frozen=True)
class Webhook:
    """One admission handler of the operator, as kopf serves it (at /<id>) and as its configuration lists it."""

    kind: Literal["mutating", "validating"]
    id: str
    operations: tuple[Operation, ...] = ("CREATE", "UPDATE")


DEFAULTS = Webhook("mutating", "defaults")
RULES = Webhook("validating", "rules")
WEBHOOKS = (DEFAULTS, RULES)

ConfigureWebhooks = Callable[[str, str, list[dict[str, Any]]], Awaitable[None]]
"""Writes the webhooks of one configuration: (kind, name, webhooks)."""


def namespace_selector(namespaces: tuple[str, ...]) -> dict[str, Any] | None:
    """Served namespaces given by name (the namespaced RBAC mode): the webhooks are called only for Databases
    there, which the operator may read around. Patterns, or none (the whole cluster): every namespace."""
    if not namespaces or not all(NAMESPACE_NAME.fullmatch(name) for name in namespaces):
        return None
    return {"matchExpressions": [{"key": NAMESPACE_LABEL, "operator": "In", "values": list(namespaces)}]}


def webhook_entries(
    kind: str, client_config: kopf.WebhookClientConfig, namespaces: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The webhooks of one configuration. failurePolicy Fail: while the operator is down, creating or changing
    a Database is refused rather than stored without its defaults; the handlers have no side effects, so dry
    runs are served."""
    selector = namespace_selector(namespaces)
    return [
        {
            "name": f"{webhook.id}.{CONFIGURATION_NAME}",
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "apiVersions": [VERSION],
                    "resources": [PLURAL],
                    "operations": list(webhook.operations),
                    "scope": "*",
                }
            ],
            **({"namespaceSelector": selector} if selector else {}),
            "clientConfig": _at_path(client_config, webhook.id),
            "timeoutSeconds": 30,
            "admissionReviewVersions": ["v1"],
        }
        for webhook in WEBHOOKS
        if webhook.kind == kind
    ]


def _at_path(client_config: kopf.WebhookClientConfig, handler_id: str) -> dict[str, Any]:
    """The client configuration of one handler: kopf serves each at /<handler id>."""
    config: dict[str, Any] = {key: value for key, value in client_config.items() if key in ("caBundle",)}
    if url := client_config.get("url"):
        config["url"] = f"{url.rstrip('/')}/{quote(handler_id)}"
    if service := client_config.get("service"):
        config["service"] = {**service, "path": f"{service.get('path') or ''}/{quote(handler_id)}"}
    return config


class ConfiguringWebhookServer(kopf.WebhookServer):
    """kopf's server, which also writes the webhook configurations each time it has a client configuration
    (kopf's own management stays off). In a cluster the API server calls the webhooks through a Service, not
    a URL it could not resolve."""

    def __init__(
        self,
        *,
        configure: ConfigureWebhooks,
        service: tuple[str, str] | None,
        namespaces: tuple[str, ...],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.configure = configure
        self.service = service
        self.namespaces = namespaces

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async for served in super().__call__(fn):
            config = served
            if self.service is not None:
                namespace, name = self.service
                config = kopf.WebhookClientConfig(
                    caBundle=served.get("caBundle"),
                    service=kopf.WebhookClientConfigService(namespace=namespace, name=name, port=self.port, path=""),
                )
            for kind in ("mutating", "validating"):
                await self.configure(kind, CONFIGURATION_NAME, webhook_entries(kind, config, self.namespaces))
            yield config


logger = logging.getLogger(__name__)
RENEWAL_CHECK_SECONDS = 12 * 3600
RENEWAL_RETRY_SECONDS = 600


def webhook_hostnames(settings: OperatorSettings) -> list[str]:
    if settings.webhook_service:
        namespace, _, name = settings.webhook_service.partition("/")
        return [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
    return [settings.webhook_host]


async def renew_certificate_forever(
    settings: OperatorSettings, every: float = RENEWAL_CHECK_SECONDS, retry_after: float = RENEWAL_RETRY_SECONDS
) -> None:
    """Renew the serving certificate before it expires; the server re-reads changed files (kopf checks every
    minute), and the CA, hence the webhooks' caBundle, stays the same. A failed renewal is logged as an error
    and tried again after `retry_after`: the loop ends only with the operator (30 days before expiry leave
    time to notice and fix, e.g., a full disk)."""
    delay = every
    while True:
        await asyncio.sleep(delay)
        try:
            await asyncio.to_thread(ensure_certificate, settings.effective_webhook_tls_dir, webhook_hostnames(settings))
            delay = every
        except Exception as error:
            logger.error("renewing the webhook certificate failed, retrying in %.0fs: %s", retry_after, error)
            delay = retry_after


async def no_webhook_server(fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
    """With the webhooks off (DBOP_WEBHOOKS=off): serve nothing and configure nothing. kopf refuses to run
    admission handlers without a server; this one never yields a client configuration."""
    await asyncio.Event().wait()
    yield kopf.WebhookClientConfig()  # never reached: makes this an async generator, as kopf expects


class _RequestCutShort(logging.Filter):
    """aiohttp logs, with a traceback, a request whose connection was lost before it was read. At shutdown that
    is an admission request caught in the moment the server closes: aiohttp 3.14 drops the data of a request
    whose body arrives after it began closing, so the handler waits until the API server gives up. No handler
    of ours ran; the API server reports the webhook call as failed to its caller, who may try again. One line
    says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ConnectionResetError):
            logger.warning("a webhook request was cut short, its connection lost before it was read: %s", error)
            return False
        return True


_REQUEST_CUT_SHORT = _RequestCutShort()


def quiet_cut_short_requests() -> None:
    """Install _RequestCutShort on aiohttp's server logger (addFilter adds one instance once)."""
    logging.getLogger("aiohttp.server").addFilter(_REQUEST_CUT_SHORT)


def webhook_server(settings: OperatorSettings, configure: ConfigureWebhooks) -> kopf.WebhookServer:
    """Certificates are made, or renewed 30 days before expiry, now and every 12 hours, unless mounted."""
    quiet_cut_short_requests()
    hostnames = webhook_hostnames(settings)
    certificate = ensure_certificate(settings.effective_webhook_tls_dir, hostnames)
    namespace, _, name = settings.webhook_service.partition("/")
    return ConfiguringWebhookServer(
        configure=configure,
        service=(namespace, name) if settings.webhook_service else None,
        namespaces=settings.namespaces,
        addr=settings.webhook_bind,
        port=settings.webhook_port,
        host=hostnames[0],
        certfile=str(certificate.certfile),
        pkeyfile=str(certificate.keyfile),
        cadata=certificate.ca_pem,
    )

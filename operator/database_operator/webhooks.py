"""The admission webhook server: TLS from certificates.py, reached by URL (local) or through a Service."""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import kopf

from database_operator.certificates import ensure_certificate
from database_operator.settings import OperatorSettings


class ServiceWebhookServer(kopf.WebhookServer):
    """In a cluster the API server calls the webhooks through a Service, not a URL it could not resolve."""

    def __init__(self, *, service_namespace: str, service_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service_namespace = service_namespace
        self.service_name = service_name

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async for config in super().__call__(fn):
            yield kopf.WebhookClientConfig(
                caBundle=config.get("caBundle"),
                service=kopf.WebhookClientConfigService(
                    namespace=self.service_namespace, name=self.service_name, port=self.port, path=""
                ),
            )


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


def webhook_server(settings: OperatorSettings) -> kopf.WebhookServer:
    """Certificates are made, or renewed 30 days before expiry, now and every 12 hours, unless mounted."""
    hostnames = webhook_hostnames(settings)
    certificate = ensure_certificate(settings.effective_webhook_tls_dir, hostnames)
    options: dict[str, Any] = {
        "addr": settings.webhook_bind,
        "port": settings.webhook_port,
        "host": hostnames[0],
        "certfile": str(certificate.certfile),
        "pkeyfile": str(certificate.keyfile),
        "cadata": certificate.ca_pem,
    }
    if settings.webhook_service:
        namespace, _, name = settings.webhook_service.partition("/")
        return ServiceWebhookServer(service_namespace=namespace, service_name=name, **options)
    return kopf.WebhookServer(**options)

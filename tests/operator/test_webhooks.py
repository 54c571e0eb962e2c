"""The operator writes its own two webhook configurations, by name, pointing at the server it runs."""

import asyncio
import base64
import logging
import socket
import ssl
import sys
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock

import aiohttp.web
import kopf
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from pytest_mock import MockerFixture

from database_operator.kube import Kube
from database_operator.settings import OperatorSettings
from database_operator.webhooks import (
    CONFIGURATION_NAME,
    quiet_cut_short_requests,
    webhook_entries,
    webhook_server,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def configured_by_server(settings: OperatorSettings) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """What the server wrote before it handed kopf its first client configuration."""
    written: list[tuple[str, str, list[dict[str, Any]]]] = []

    async def configure(kind: str, name: str, webhooks: list[dict[str, Any]]) -> None:
        written.append((kind, name, webhooks))

    async def first_config() -> None:
        async def never_called(*_: Any, **__: Any) -> Any:
            raise AssertionError("no request is served here")

        served = webhook_server(settings, configure)(never_called)
        await anext(served)
        await served.aclose()

    asyncio.run(first_config())
    return written


def test_locally_both_configurations_call_the_url_of_each_handler(tmp_path: Path) -> None:
    port = _free_port()
    settings = OperatorSettings(state_dir=tmp_path, passphrase="x", webhook_port=port)
    written = configured_by_server(settings)
    assert [(kind, name) for kind, name, _ in written] == [
        ("mutating", CONFIGURATION_NAME),
        ("validating", CONFIGURATION_NAME),
    ]
    (_, _, mutating), (_, _, validating) = written
    assert [hook["name"] for hook in mutating] == ["defaults.database.example.com"]
    assert [hook["name"] for hook in validating] == ["rules.database.example.com"]
    assert mutating[0]["clientConfig"]["url"] == f"https://127.0.0.1:{port}/defaults"
    assert validating[0]["clientConfig"]["url"] == f"https://127.0.0.1:{port}/rules"
    ca = (tmp_path / "webhook-tls" / "ca.crt").read_bytes()  # the CA the operator made: the one the API server trusts
    assert all(base64.b64decode(hook["clientConfig"]["caBundle"]) == ca for hook in mutating + validating)
    for hook in mutating + validating:
        assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
        assert hook["rules"] == [
            {
                "apiGroups": ["database.example.com"],
                "apiVersions": ["v1"],
                "resources": ["databases"],
                "operations": ["CREATE", "UPDATE"],
                "scope": "*",
            }
        ]


def test_in_a_cluster_the_webhooks_are_called_through_the_service(tmp_path: Path) -> None:
    settings = OperatorSettings(
        state_dir=tmp_path, passphrase="x", webhook_port=_free_port(), webhook_service="ops/database-operator"
    )
    [(_, _, mutating), (_, _, validating)] = configured_by_server(settings)
    assert mutating[0]["clientConfig"]["service"] == {
        "namespace": "ops",
        "name": "database-operator",
        "port": settings.webhook_port,
        "path": "/defaults",
    }
    assert validating[0]["clientConfig"]["service"]["path"] == "/rules"
    assert "url" not in validating[0]["clientConfig"]


@pytest.mark.parametrize("kind", ["mutating", "validating"])
def test_each_configuration_lists_only_its_own_kind_of_webhook(kind: str) -> None:
    entries = webhook_entries(kind, kopf.WebhookClientConfig(url="https://example:1"))
    assert [hook["name"].split(".")[0] for hook in entries] == ["defaults" if kind == "mutating" else "rules"]


def test_serving_named_namespaces_the_webhooks_are_called_only_for_them(tmp_path: Path) -> None:
    """Namespaced RBAC: the operator may not read around a Database elsewhere, so it is not asked about one."""
    settings = OperatorSettings(
        state_dir=tmp_path, passphrase="x", webhook_port=_free_port(), namespaces=("shop", "billing")
    )
    for _, _, webhooks in configured_by_server(settings):
        assert webhooks[0]["namespaceSelector"] == {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop", "billing"]}
            ]
        }


@pytest.mark.parametrize("namespaces", [(), ("e2e-*",), ("shop", "team-*")])
def test_serving_the_cluster_or_patterns_every_namespace_is_checked(namespaces: tuple[str, ...]) -> None:
    entries = webhook_entries("validating", kopf.WebhookClientConfig(url="https://example:1"), namespaces)
    assert "namespaceSelector" not in entries[0]


def _admission_api(mocker: MockerFixture, *, read: object, create: object = None) -> Any:
    api = mocker.patch("database_operator.kube.client.AdmissionregistrationV1Api").return_value
    api.read_validating_webhook_configuration = AsyncMock(side_effect=[read])
    api.create_validating_webhook_configuration = AsyncMock(side_effect=[create])
    api.patch_validating_webhook_configuration = AsyncMock()
    return api


def _configure(webhooks: list[dict[str, Any]]) -> None:
    async def run() -> None:
        kube = Kube(ApiClient())
        try:
            await kube.configure_webhooks("validating", CONFIGURATION_NAME, webhooks)
        finally:
            await kube.close()

    asyncio.run(run())


def test_an_installed_configuration_is_only_patched(mocker: MockerFixture) -> None:
    api = _admission_api(mocker, read={"metadata": {"name": CONFIGURATION_NAME}})
    _configure([{"name": "rules.database.example.com"}])
    api.create_validating_webhook_configuration.assert_not_called()
    api.patch_validating_webhook_configuration.assert_awaited_once_with(
        CONFIGURATION_NAME, {"webhooks": [{"name": "rules.database.example.com"}]}, _content_type=mocker.ANY
    )


def test_a_missing_configuration_the_operator_may_not_create_says_what_to_apply(mocker: MockerFixture) -> None:
    _admission_api(mocker, read=ApiException(status=404), create=ApiException(status=403))
    with pytest.raises(
        PermissionError,
        match=r"validating webhook configuration database\.example\.com is missing.*apply deploy/rbac\.yaml",
    ):
        _configure([])


def test_a_request_cut_short_by_the_shutdown_is_one_line_without_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server's admission request arrives as the operator stops: its headers before the server begins
    closing, its body after (aiohttp then drops it), and the API server gives up on it."""
    settings = OperatorSettings(state_dir=tmp_path, passphrase="x", webhook_port=_free_port())
    client_tls = ssl.create_default_context(cafile=None)
    client_tls.check_hostname, client_tls.verify_mode = False, ssl.CERT_NONE  # loopback; the CA is not the point

    read_text = aiohttp.web.BaseRequest.text
    reading = asyncio.Event()

    async def text(request: aiohttp.web.BaseRequest) -> str:  # kopf's handler reads the body with it
        reading.set()
        return await read_text(request)

    monkeypatch.setattr(aiohttp.web.BaseRequest, "text", text)

    async def cut_short() -> None:
        async def configure(*_: Any) -> None:
            return None

        async def review(*_: Any, **__: Any) -> Any:
            raise AssertionError("the request never gets as far as a handler")

        async def serve() -> None:  # as kopf does: the server stops when this task is cancelled
            async for _ in webhook_server(settings, configure)(review):
                configured.set()

        configured = asyncio.Event()
        server = asyncio.create_task(serve())
        await configured.wait()
        _, writer = await asyncio.open_connection("127.0.0.1", settings.webhook_port, ssl=client_tls)
        body = b'{"kind": "AdmissionReview"}'
        writer.write(b"POST /rules HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        await writer.drain()
        await asyncio.wait_for(reading.wait(), timeout=10)  # the handler waits for the body
        server.cancel()  # SIGTERM: the server begins closing at once, in this same event loop
        await asyncio.sleep(0.2)
        writer.write(body)
        await writer.drain()
        writer.close()  # the API server gives up
        await asyncio.wait([server], timeout=10)
        assert server.cancelled()

    with caplog.at_level(logging.INFO):
        asyncio.run(cut_short())
    assert [record for record in caplog.records if record.exc_info] == []
    assert [
        (record.levelname, record.getMessage()) for record in caplog.records if record.name.endswith("webhooks")
    ] == [("WARNING", "a webhook request was cut short, its connection lost before it was read: Connection lost")]


def test_other_errors_of_the_webhook_server_keep_their_traceback() -> None:
    quiet_cut_short_requests()
    try:
        raise ValueError("a bug")
    except ValueError:
        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", (), sys.exc_info()
        )
    assert logging.getLogger("aiohttp.server").filter(record)

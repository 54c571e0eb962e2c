"""The watches of owned kinds carry label selectors to the API server: other people's Pods, ConfigMaps, Services,
StatefulSets and Jobs never reach the operator. Checked on the URLs kopf itself sends, for its initial LIST and
its watch, cluster-wide and in one served namespace."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kopf
import pytest
from kopf._cogs.clients import api, fetching, watching
from kopf._cogs.structs.references import Resource
from pytest_mock import MockerFixture

from database_operator.watches import filter_watches_server_side

MANAGED = "app.kubernetes.io/managed-by=database-operator"
RESOURCES = {
    "statefulsets": (Resource("apps", "v1", "statefulsets", kind="StatefulSet", namespaced=True), MANAGED),
    "configmaps": (Resource("", "v1", "configmaps", kind="ConfigMap", namespaced=True), MANAGED),
    "services": (Resource("", "v1", "services", kind="Service", namespaced=True), MANAGED),
    "pods": (
        Resource("", "v1", "pods", kind="Pod", namespaced=True),
        f"app.kubernetes.io/component=database,{MANAGED}",
    ),
    "jobs": (
        Resource("batch", "v1", "jobs", kind="Job", namespaced=True),
        f"app.kubernetes.io/component=backup,{MANAGED}",
    ),
}


def sent(mocker: MockerFixture, resource: Resource, namespace: str | None) -> list[str]:
    """The URLs of kopf's initial LIST and its watch of one resource, with our settings."""
    urls: list[str] = []

    async def get(url: str, **_: Any) -> dict[str, Any]:
        urls.append(url)
        return {"items": [], "metadata": {"resourceVersion": "1"}}

    async def stream(url: str, **_: Any) -> AsyncIterator[Any]:
        urls.append(url)
        for event in ():
            yield event

    mocker.patch.object(api, "get", get)
    mocker.patch.object(api, "stream", stream)
    settings = kopf.OperatorSettings()
    filter_watches_server_side(settings)

    async def list_and_watch() -> None:
        async for _ in fetching.fetch_objs(
            settings=settings, resource=resource, namespace=namespace, logger=mocker.Mock()
        ):
            pass
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async for _ in watching.watch_objs(
            settings=settings, resource=resource, namespace=namespace, operator_pause_waiter=waiter
        ):
            pass

    asyncio.run(list_and_watch())
    return urls


@pytest.mark.parametrize("plural", sorted(RESOURCES))
@pytest.mark.parametrize("namespace", [None, "shop"])
def test_list_and_watch_send_our_label_selector(mocker: MockerFixture, plural: str, namespace: str | None) -> None:
    resource, selector = RESOURCES[plural]
    urls = sent(mocker, resource, namespace)
    assert len(urls) == 2
    for url in urls:
        parts = urlsplit(url)
        assert parse_qs(parts.query)["labelSelector"] == [selector]
        assert (f"/namespaces/{namespace}/" in parts.path) is (namespace is not None)


def test_databases_are_watched_whole(mocker: MockerFixture) -> None:
    databases = Resource("database.example.com", "v1", "databases", kind="Database", namespaced=True)
    assert all("labelSelector" not in url for url in sent(mocker, databases, None))

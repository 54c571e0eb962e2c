"""Kubernetes writes whose answers the operator does not read (kube.py)."""

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from database_operator.kube import _unless_missing_unread


class Response:
    """What the client returns for a request sent with `_preload_content=False`."""

    def __init__(self, status: int, body: bytes = b"") -> None:
        self.status = status
        self.reason = "Conflict" if status == 409 else "OK"
        self.headers: dict[str, str] = {}
        self.body = body
        self.released = False

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        self.released = True


def sent(response: Response) -> Any:
    async def write(*args: Any, _preload_content: bool = True, **kwargs: Any) -> Response:
        assert _preload_content is False
        return response

    return asyncio.run(_unless_missing_unread(write))


@pytest.mark.parametrize("status", [200, 404])
def test_a_write_that_succeeded_or_found_nothing_is_quietly_done(status: int) -> None:
    response = Response(status)

    assert sent(response) is None
    assert response.released


def test_a_refused_write_raises_what_the_client_would() -> None:
    response = Response(409, b'{"reason": "Conflict"}')

    with pytest.raises(ApiException) as raised:
        sent(response)

    assert raised.value.status == 409 and raised.value.body == b'{"reason": "Conflict"}'
    assert response.released

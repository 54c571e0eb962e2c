"""Certificate renewal survives its errors and reports them."""

import asyncio
import logging
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from database_operator import webhooks
from database_operator.settings import OperatorSettings


def test_a_failed_renewal_is_reported_and_tried_again(
    tmp_path: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes: list[Exception | None] = [OSError("No space left on device"), None, None]
    attempts: list[int] = []

    def ensure(directory: Path, hostnames: list[str]) -> None:
        attempts.append(0)
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    mocker.patch.object(webhooks, "ensure_certificate", side_effect=ensure)
    settings = OperatorSettings(state_dir=tmp_path, passphrase="x")

    async def run_for_a_while() -> None:
        renewal = asyncio.create_task(webhooks.renew_certificate_forever(settings, every=0.01, retry_after=0.01))
        while outcomes:
            await asyncio.sleep(0.01)
        assert not renewal.done()  # the error did not end the loop
        renewal.cancel()

    with caplog.at_level(logging.ERROR):
        asyncio.run(run_for_a_while())
    assert len(attempts) == 3
    assert "renewing the webhook certificate failed, retrying in 0s: No space left on device" in caplog.text

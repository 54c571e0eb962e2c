"""The runtime's status writes: what the API server stores ends up what the operator believes it wrote."""

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest

from database_operator.runtime import Runtime
from tests.operator.conftest import FakeKube


class SlowFirstPatch(FakeKube):
    """The first status patch takes a while on the wire; later ones are quick."""

    async def patch_database_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if not self.patches:
            self.patches.append({})  # in flight
            await asyncio.sleep(0.05)
            self.patches.pop()
        await super().patch_database_status(namespace, name, status)


def test_concurrent_status_writes_land_in_the_order_they_were_made(runtime: Runtime) -> None:
    kube = SlowFirstPatch()
    runtime.kube = kube  # type: ignore[assignment]
    tracker = runtime.tracker("shop", "orders")

    async def both() -> None:
        first = asyncio.create_task(runtime.write_status(tracker, {"phase": "Creating", "ready": False}))
        await asyncio.sleep(0)  # the first patch is on its way
        await runtime.write_status(tracker, {"phase": "Ready", "ready": True})
        await first

    asyncio.run(both())
    assert kube.status() == {"phase": "Ready", "ready": True} == tracker.status


def test_a_cancelled_caller_does_not_let_a_second_operation_start_on_the_stack(runtime: Runtime) -> None:
    """The daemon of a Database being deleted is cancelled mid-operation; its Pulumi process runs on, and the
    delete's destroy must wait for it rather than start a second operation on the stack."""
    tracker = runtime.tracker("shop", "orders")
    release = threading.Event()
    running: list[str] = []
    overlaps: list[str] = []

    def operation(name: str, wait: bool) -> Callable[[], str]:
        def run() -> str:
            if running:
                overlaps.append(f"{name} while {running}")
            running.append(name)
            if wait:
                release.wait(timeout=10)
            running.remove(name)
            return name

        return run

    async def scenario() -> str:
        first = asyncio.create_task(runtime.run_operation(tracker, operation("drift check", wait=True)))
        await asyncio.sleep(0.05)  # the first operation's thread is running
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        second = asyncio.create_task(runtime.run_operation(tracker, operation("destroy", wait=False)))
        await asyncio.sleep(0.05)
        assert not second.done() and tracker.operation.locked()  # still held for the running thread
        release.set()
        return await second

    assert asyncio.run(scenario()) == "destroy"
    assert overlaps == []


def test_an_operation_cancelled_before_it_started_never_runs(runtime: Runtime) -> None:
    tracker = runtime.tracker("shop", "orders")
    ran: list[str] = []

    async def scenario() -> None:
        async with tracker.operation:  # another operation holds the stack
            waiting = asyncio.create_task(runtime.run_operation(tracker, lambda: ran.append("stale")))
            await asyncio.sleep(0.01)
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert ran == [] and not tracker.operation.locked()


class FailingOncePatch(FakeKube):
    """The first status patch fails (the API server is briefly unavailable)."""

    async def patch_database_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if not self.patches:
            self.patches.append({})
            raise ConnectionError("the server is currently unable to handle the request")
        await super().patch_database_status(namespace, name, status)


def test_a_failed_status_patch_is_not_taken_for_written(runtime: Runtime) -> None:
    kube = FailingOncePatch()
    runtime.kube = kube  # type: ignore[assignment]
    tracker = runtime.tracker("shop", "orders")
    with pytest.raises(ConnectionError):
        asyncio.run(runtime.write_status(tracker, {"phase": "Ready"}))
    assert tracker.written == {}
    asyncio.run(runtime.write_status(tracker, {"phase": "Ready"}))  # the same change again: patched this time
    assert kube.status() == {"phase": "Ready"} == tracker.written == tracker.status


def test_a_status_change_counts_for_the_next_computation_while_its_patch_is_in_flight(runtime: Runtime) -> None:
    """The watch computes readiness from the conditions an operation is writing right now, not from older ones."""
    kube = SlowFirstPatch()
    runtime.kube = kube  # type: ignore[assignment]
    tracker = runtime.tracker("shop", "orders")

    async def both() -> None:
        first = asyncio.create_task(runtime.write_status(tracker, {"conditions": ["Reconciled"]}))
        await asyncio.sleep(0)  # in flight
        assert tracker.status["conditions"] == ["Reconciled"]
        await runtime.write_status(tracker, {"conditions": [*tracker.status["conditions"], "Ready"]})
        await first

    asyncio.run(both())
    assert kube.status() == {"conditions": ["Reconciled", "Ready"]}

"""The runtime's status writes: what the API server stores ends up what the operator believes it wrote."""

import asyncio
from typing import Any

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

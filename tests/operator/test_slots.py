"""Stack operations share a bounded number of slots; requested changes go before background drift checks."""

import asyncio

from database_operator.slots import OperationSlots


class Operations:
    """Operations that take slots in the order they are started, note when they run and end when released."""

    def __init__(self, limit: int) -> None:
        self.slots = OperationSlots(limit)
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def start(self, name: str, background: bool = False) -> "asyncio.Task[None]":
        task = asyncio.create_task(self._run(name, background))
        for _ in range(10):  # let it take a slot or queue for one
            await asyncio.sleep(0)
        return task

    async def _run(self, name: str, background: bool) -> None:
        async with self.slots.slot(background):
            self.started.append(name)
            await self.release.wait()


def test_a_requested_change_overtakes_a_waiting_drift_check() -> None:
    async def scenario() -> None:
        operations = Operations(limit=1)
        tasks = [
            await operations.start("first"),
            await operations.start("drift", background=True),
            await operations.start("change"),
        ]
        assert operations.started == ["first"]
        operations.release.set()
        await asyncio.gather(*tasks)
        assert operations.started == ["first", "change", "drift"]

    asyncio.run(scenario())


def test_no_more_than_the_limit_run_at_once() -> None:
    async def scenario() -> None:
        operations = Operations(limit=2)
        tasks = [await operations.start(str(index), background=index % 2 == 0) for index in range(5)]
        assert len(operations.started) == 2
        operations.release.set()
        await asyncio.gather(*tasks)
        assert len(operations.started) == 5

    asyncio.run(scenario())


def test_a_drift_check_runs_when_nothing_else_waits() -> None:
    async def scenario() -> None:
        operations = Operations(limit=1)
        operations.release.set()
        await (await operations.start("drift", background=True))
        assert operations.started == ["drift"]

    asyncio.run(scenario())


def test_a_change_that_stops_waiting_lets_drift_checks_go() -> None:
    async def scenario() -> None:
        operations = Operations(limit=1)
        first = await operations.start("first")
        change = await operations.start("change")
        drift = await operations.start("drift", background=True)
        change.cancel()  # e.g. its Database was deleted while it waited
        operations.release.set()
        await asyncio.wait_for(asyncio.gather(first, drift), timeout=5)  # not held back by the one that left
        assert operations.started == ["first", "drift"]

    asyncio.run(scenario())

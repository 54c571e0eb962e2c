"""A bounded number of stack operations at once, requested changes first.

A drift check (a `preview --refresh`, about 1.7 CPU-seconds) is background work. Queued in turn with the
Databases people just applied, it made them wait: with 50 new Databases on two cores, the drift checks of
the earlier ones took a fifth of the CPU. So a background operation starts only while no other operation waits.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class OperationSlots:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._running = 0
        self._waiting_in_front = 0
        """Operations other than background ones waiting for a slot."""
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self, background: bool = False) -> AsyncIterator[None]:
        async with self._changed:
            if not background:
                self._waiting_in_front += 1
            try:
                await self._changed.wait_for(lambda: self._free(background))
            finally:
                if not background:
                    self._waiting_in_front -= 1
                    # One that stopped waiting may have held background ones back.
                    self._changed.notify_all()
            self._running += 1
        try:
            yield
        finally:
            async with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def _free(self, background: bool) -> bool:
        return self._running < self._limit and not (background and self._waiting_in_front)

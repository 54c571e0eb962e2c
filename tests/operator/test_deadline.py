"""An operation's deadline: its Pulumi processes are ended when it comes, and so is any started after it."""

import threading
import time

from database_operator.operation import Deadline


def test_what_starts_after_the_deadline_is_ended_too_until_the_operation_is_left() -> None:
    ended = threading.Semaphore(0)
    calls: list[float] = []

    def end_processes() -> None:
        calls.append(time.monotonic())
        ended.release()

    with Deadline(0.05, end_processes, repeat_seconds=0.05) as deadline:
        assert ended.acquire(timeout=5)  # at the deadline: what runs then
        assert ended.acquire(timeout=5)  # and again: a CLI that was still starting, a later run
        assert deadline.expired
    left = len(calls)
    time.sleep(0.2)
    assert len(calls) <= left + 1  # nothing once the operation is over (but a call already under way)


def test_an_operation_that_ends_in_time_ends_nothing() -> None:
    calls: list[str] = []
    with Deadline(0.5, lambda: calls.append("ended")) as deadline:
        pass
    time.sleep(0.6)
    assert calls == [] and not deadline.expired

"""One running stack operation: its id, which tags its Pulumi processes, and the deadline that ends them."""

import threading
from collections.abc import Callable

from pulumi import automation as auto

from database_operator.processes import PulumiProcesses


class Deadline:
    """Calls `on_expiry` (from a timer thread) if the `with` block is still running after `seconds`, and again
    every `repeat_seconds` until the block is left: a process that starts after the deadline (a CLI still being
    started when it came, or a later run of the same operation) is ended too, never left to run unbounded."""

    def __init__(self, seconds: float, on_expiry: Callable[[], object], repeat_seconds: float = 1.0) -> None:
        self.expired = False
        self._on_expiry = on_expiry
        self._repeat_seconds = repeat_seconds
        self._left = threading.Event()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        while not self._left.is_set():
            self._on_expiry()
            self._left.wait(self._repeat_seconds)

    def __enter__(self) -> "Deadline":
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._left.set()
        self._timer.cancel()


class Operation:
    """One running operation. At its deadline its Pulumi processes are ended; an operation ended so, or by the
    operator's shutdown, was cut short: its stack is recovered before the next operation."""

    def __init__(
        self, id_: str, processes: PulumiProcesses, timeout_seconds: float, stopping: Callable[[], bool]
    ) -> None:
        self.id = id_
        self._processes = processes
        self._stopping = stopping
        self.deadline = Deadline(timeout_seconds, lambda: processes.end_operation(id_))

    def tag(self, stack: auto.Stack) -> None:
        """Make the Pulumi processes of the stack's next CLI run (and their plugins) this operation's."""
        tags = self._processes.environment(self.id)
        stack.workspace.env_vars = {**stack.workspace.env_vars, **tags}

    @property
    def cut_short(self) -> bool:
        return self._stopping() or self.deadline.expired

"""When objects first reach a state, from one `kubectl get --watch` stream per kind and namespace.

Polling with a kubectl run every 0.2 s cost about half of one of the machine's two cores: the measurement
competed with what it measured. A watch costs next to nothing and sees each change as it happens.
"""

import subprocess
import threading
import time
from collections.abc import Callable, Iterable

from benchmark.process import Usage

# Each object as one line of fields: name first, then what the predicates look at. Not tab-separated: kubectl
# aligns a watch's tabs into columns of spaces.
SEPARATOR = "|"
STATEFULSET_FIELDS = "{.metadata.name}|{.spec.replicas}|{.status.readyReplicas}"
DATABASE_FIELDS = "{.metadata.name}|{.metadata.generation}|{.status.observedGeneration}|{.status.ready}"
# kubectl has started its watch well within this (its own start takes about 0.3 s).
SETTLE_SECONDS = 1.0


def created(fields: list[str]) -> bool:
    return True


def statefulset_ready(fields: list[str]) -> bool:
    _, replicas, ready = fields
    return bool(ready) and int(ready) >= int(replicas or 1)


def statefulset_scaled_to(replicas: int) -> Callable[[list[str]], bool]:
    return lambda fields: fields[1] == str(replicas)


def database_ready(fields: list[str]) -> bool:
    _, generation, observed, ready = fields
    return observed == generation and ready == "true"


class Watch:
    """The first moment (monotonic) each object of one kind in one namespace satisfied a predicate."""

    def __init__(
        self, env: dict[str, str], kind: str, namespace: str, fields: str, predicate: Callable[[list[str]], bool]
    ) -> None:
        self._predicate = predicate
        self.first: dict[str, float] = {}
        template = fields + '{"\\n"}'
        self._process = subprocess.Popen(
            ["kubectl", "get", kind, "-n", namespace, "--watch", "-o", f"jsonpath={template}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            now, fields = time.monotonic(), line.rstrip("\n").split(SEPARATOR)
            if fields[0] and fields[0] not in self.first and self._predicate(fields):
                self.first[fields[0]] = now

    def wait(self, what: str, names: Iterable[str], started: float, timeout: float, usage: Usage) -> dict[str, float]:
        """Seconds from `started` until each name first satisfied the predicate."""
        names = list(names)
        deadline = time.monotonic() + timeout
        while missing := [name for name in names if name not in self.first]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: {len(names) - len(missing)}/{len(names)} after {timeout:.0f}s")
            usage.sample()
            time.sleep(0.2)
        return {name: self.first[name] - started for name in names}

    def close(self) -> None:
        self._process.kill()
        self._process.wait()


def watching(env: dict[str, str], specs: list[tuple[str, str, str, Callable[[list[str]], bool]]]) -> list[Watch]:
    """Start watches (kind, namespace, fields, predicate) and give them time to be established."""
    watches = [Watch(env, *spec) for spec in specs]
    time.sleep(SETTLE_SECONDS)
    return watches

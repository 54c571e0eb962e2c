"""Operator tests without the Pulumi CLI or a cluster: fake stacks and a fake status store, real services."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
import pytest
from pytest_mock import MockerFixture

from database_api.profiles import StacksConfig
from database_operator.kube import ExecResult
from database_operator.runtime import Runtime
from database_operator.settings import OperatorSettings
from database_operator.stacks import DriftCheck, OperationResult, StackInput

OUTPUTS = {
    "endpoint": "orders.shop.svc:3306",
    "service": "orders",
    "headlessService": "orders-headless",
    "statefulSet": "orders",
    "configMap": "orders-config",
    "secret": "orders-credentials",
    "backupCronJob": None,
    "selector": "app.kubernetes.io/component=database,app.kubernetes.io/instance=orders,app.kubernetes.io/name=mysql",
}


def result(kind: str, **changes: int) -> OperationResult:
    return OperationResult(
        kind=kind,
        changes=changes,
        duration_seconds=1.25,
        finished_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        outputs=OUTPUTS if kind == "up" else {},
    )


@dataclass
class FakeStacks:
    """Records every stack operation; each result or error is queued by the test."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    up_results: list[OperationResult | Exception] = field(default_factory=list)
    preview_results: list[OperationResult | Exception] = field(default_factory=list)
    destroy_results: list[OperationResult | Exception] = field(default_factory=list)
    settings_dir: Path = Path("/nonexistent")
    """Where the stacks' settings files are (tests that need a deployed spec write one there)."""

    def stack_settings_file(self, stack: str) -> Path:
        return self.settings_dir / f"Pulumi.{stack}.yaml"

    @staticmethod
    def _next(queue: list[OperationResult | Exception], default: OperationResult) -> OperationResult:
        outcome = queue.pop(0) if queue else default
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    applied: dict[str, StackInput] = field(default_factory=dict)
    """The configuration each stack's workspace holds: the last one `up` was given."""

    forgotten: list[tuple[str, ...]] = field(default_factory=list)
    """What each `up` was told to drop from the state first (Stacks.up's `forget`)."""

    def up(self, request: StackInput, refresh: bool = False, forget: tuple[str, ...] = ()) -> OperationResult:
        self.calls.append(("up", request, refresh))
        self.forgotten.append(forget)
        self.applied[request.stack] = request
        return self._next(self.up_results, result("up", create=6))

    def check_drift(
        self,
        stack: str,
        fallback: StackInput | None,
        correct: Callable[[Mapping[str, Any]], bool],
        forget: tuple[str, ...] = (),
    ) -> DriftCheck:
        """Like Stacks.check_drift: the preview's result is queued; a correction re-applies the last `up`."""
        self.forgotten.append(forget)
        applied = self.applied.get(stack) or fallback
        assert applied is not None, "a drift check of a stack never applied, with no fallback"
        self.calls.append(("check_drift", applied, True))
        found = self._next(self.preview_results, result("preview", same=6))
        if not found.changed or not correct(applied.spec):
            return DriftCheck(found)
        self.calls.append(("correct_drift", applied, True))
        return DriftCheck(found, self._next(self.up_results, result("up", create=6)))

    def preview_proposed(self, request: StackInput) -> OperationResult:
        self.calls.append(("preview_proposed", request, request.stack in self.applied))  # refreshes a live stack
        return self._next(self.preview_results, result("preview", same=6))

    def destroy(self, namespace: str, name: str) -> OperationResult:
        self.calls.append(("destroy", (namespace, name), False))
        return self._next(self.destroy_results, result("destroy", delete=6))

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.calls]


@dataclass
class FakeKube:
    """The status subresource as the API server would hold it after each merge patch."""

    statuses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    patches: list[dict[str, Any]] = field(default_factory=list)
    actions: list[tuple[str, str, Any]] = field(default_factory=list)
    """What the operator changed besides status, in order: (verb, object name, detail)."""
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    databases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    database_backups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    cron_jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, list[str]] = field(default_factory=dict)
    backup_statuses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    async def read_database_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.database_backups.get((namespace, name))

    async def read_cron_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.cron_jobs.get((namespace, name))

    async def create_job(self, namespace: str, job: dict[str, Any]) -> None:
        self.jobs.append(job)

    deleted_jobs: list[tuple[str, str]] = field(default_factory=list)

    async def delete_jobs(self, namespace: str, label_selector: str) -> None:
        self.deleted_jobs.append((namespace, label_selector))

    async def termination_messages(self, namespace: str, job: str) -> list[str]:
        return self.messages.get(job, [])

    async def patch_backup_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.backup_statuses[(namespace, name)] = status

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get((namespace, name))

    async def read_database(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.databases.get((namespace, name))

    async def patch_database_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append(status)
        self.statuses.setdefault((namespace, name), {}).update(status)

    pod_labels: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    """What each pod's exporter serves, by pod name (none: the request to the pod fails)."""

    pod_annotations: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    exec_answers: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """What `ha-<engine>.sh <step>` prints in a pod, by (pod, step); missing: it succeeds silently; None: the pod
    cannot be reached (exec fails)."""
    execs: list[tuple[str, str]] = field(default_factory=list)
    """Every step run in a pod, in order: (pod, step words)."""

    async def patch_pod_metadata(self, namespace: str, name: str, metadata: dict[str, Any]) -> None:
        self.actions.append(("patch-pod", name, metadata))
        for kind, held in (("labels", self.pod_labels), ("annotations", self.pod_annotations)):
            if kind in metadata:
                held.setdefault((namespace, name), {}).update(metadata[kind])

    async def delete_pod(self, namespace: str, name: str) -> None:
        self.actions.append(("delete-pod", name, None))

    async def exec_in_pod(
        self, namespace: str, pod: str, container: str, command: list[str], timeout: float
    ) -> ExecResult | None:
        step = " ".join(command[2:])
        self.execs.append((pod, step))
        self.actions.append(("exec", pod, step))
        answer = self.exec_answers.get((pod, command[2]), "")
        return None if answer is None else ExecResult(0, answer, "")

    async def remove_database_annotation(self, namespace: str, name: str, key: str) -> None:
        self.actions.append(("remove-annotation", name, key))

    async def pod_metrics(self, namespace: str, pod: str, address: str, port: int) -> str | None:
        return self.metrics.get(pod)

    async def serves_api_group(self, group: str) -> bool:
        return False

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    """Other objects by (plural, namespace, name), as plain JSON: StatefulSets, volume claims, Services..."""
    storage_classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_class: str | None = None

    async def read_metadata(self, api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((plural, namespace, name))
        return found["metadata"] if found else None

    async def list_metadata(
        self, api_version: str, plural: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        wanted = dict(part.split("=") for part in label_selector.split(",")) if label_selector else {}
        return [
            found["metadata"]
            for (kind, ns, _), found in sorted(self.objects.items())
            if kind == plural and ns == namespace and wanted.items() <= (found["metadata"].get("labels") or {}).items()
        ]

    async def delete_config_map(self, namespace: str, name: str) -> None:
        self.actions.append(("delete-config-map", name, None))
        self.objects.pop(("configmaps", namespace, name), None)

    async def list_database_names(self, namespace: str) -> list[str]:
        return [name for (ns, name) in self.databases if ns == namespace]

    async def read_statefulset(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("statefulsets", namespace, name))

    async def orphan_statefulset(self, namespace: str, name: str) -> None:
        self.actions.append(("orphan", name, None))
        self.objects.pop(("statefulsets", namespace, name), None)

    async def list_volume_claims(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        wanted = dict(part.split("=") for part in label_selector.split(","))
        return [
            claim
            for (plural, ns, _), claim in sorted(self.objects.items())
            if plural == "persistentvolumeclaims"
            and ns == namespace
            and wanted.items() <= (claim["metadata"].get("labels") or {}).items()
        ]

    async def read_volume_claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("persistentvolumeclaims", namespace, name))

    async def resize_volume_claim(self, namespace: str, name: str, size: str) -> None:
        self.actions.append(("resize", name, size))
        self.objects[("persistentvolumeclaims", namespace, name)]["spec"]["resources"]["requests"]["storage"] = size

    async def delete_volume_claim(self, namespace: str, name: str) -> None:
        self.actions.append(("delete", name, None))
        self.objects.pop(("persistentvolumeclaims", namespace, name), None)

    async def storage_class(self, name: str | None) -> dict[str, Any] | None:
        return self.storage_classes.get(name or self.default_class or "")

    async def close(self) -> None:
        pass

    def status(self, name: str = "orders", namespace: str = "shop") -> dict[str, Any]:
        return self.statuses.get((namespace, name), {})

    def condition(self, type_: str, name: str = "orders") -> dict[str, Any]:
        return next(c for c in self.status(name)["conditions"] if c["type"] == type_)


@dataclass
class Events:
    posted: list[tuple[str, str, str]] = field(default_factory=list)

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.posted]


@pytest.fixture(autouse=True)
def events(mocker: MockerFixture) -> Events:
    """Events posted on the Database, in order (kopf.event is replaced: there is no operator context)."""
    recorded = Events()

    def post(body: Any, *, type: str, reason: str, message: str = "") -> None:
        recorded.posted.append((type, reason, message))

    mocker.patch("kopf.event", side_effect=post)
    return recorded


@pytest.fixture
def stacks() -> FakeStacks:
    return FakeStacks()


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def runtime(stacks_config: StacksConfig, stacks: FakeStacks, kube: FakeKube) -> Runtime:
    settings = OperatorSettings(passphrase="test", retry_base_seconds=5, retry_max_seconds=60, drift_debounce_seconds=0)
    return Runtime(settings=settings, stacks_config=stacks_config, stacks=stacks, kube=kube)


MakeDatabase = Callable[..., kopf.Body]


@pytest.fixture
def database() -> MakeDatabase:
    """database(spec overrides..., generation=, status=, annotations=) -> the body kopf would hand a handler."""

    def _make(
        generation: int = 1,
        status: dict[str, Any] | None = None,
        annotations: dict[str, str] | None = None,
        **spec: Any,
    ) -> kopf.Body:
        metadata = {"name": "orders", "namespace": "shop", "uid": "u-1", "generation": generation}
        return kopf.Body(
            {
                "apiVersion": "database.example.com/v1",
                "kind": "Database",
                "metadata": {**metadata, "annotations": annotations or {}},
                "spec": {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}, **spec},
                "status": status or {},
            }
        )

    return _make


def managed_by(*writers: tuple[str, str | None]) -> list[dict[str, Any]]:
    """managedFields for writes in order: (manager, subresource)."""
    return [
        {"manager": manager, "operation": "Update", "time": f"2026-11-21T12:00:{second:02d}Z"}
        | ({"subresource": subresource} if subresource else {})
        for second, (manager, subresource) in enumerate(writers)
    ]


def statefulset(
    replicas: int, ready: int, generation: int = 1, observed: int = 1, writers: list[dict[str, Any]] | None = None
) -> kopf.Body:
    return kopf.Body(
        {
            "kind": "StatefulSet",
            "metadata": {
                "name": "orders",
                "namespace": "shop",
                "generation": generation,
                "managedFields": writers or managed_by(("pulumi-kubernetes-5f2a", None)),
                "labels": {"app.kubernetes.io/instance": "orders", "app.kubernetes.io/managed-by": "database-operator"},
            },
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": replicas},
        }
    )

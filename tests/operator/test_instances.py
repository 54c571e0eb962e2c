"""Database pods: each is labelled with the role the status gives it (the Services select by it), and the status
lists every pod's role, readiness and, where its metrics exporter reports it, replication lag."""

import asyncio
from typing import Any

import kopf
import pytest
from aiohttp import web
from kubernetes_asyncio.client import ApiClient

from database_operator.apply import apply_database
from database_operator.instances import instances, replication_lag
from database_operator.kube import Kube
from database_operator.observe import observe_database_pod, write_instances
from database_operator.runtime import DatabaseTracker, Runtime
from tests.operator.conftest import FakeKube, MakeDatabase


def pod(index: int, ready: bool = True, role: str | None = None, address: bool = True) -> kopf.Body:
    labels = {"app.kubernetes.io/instance": "orders", "apps.kubernetes.io/pod-index": str(index)}
    if role is not None:
        labels["database.example.com/role"] = role
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return kopf.Body(
        {"kind": "Pod", "metadata": {"name": f"orders-{index}", "namespace": "shop", "labels": labels},
         "status": {"conditions": [condition], **({"podIP": f"10.88.0.{10 + index}"} if address else {})}}
    )  # fmt: skip


@pytest.fixture
def tracker(runtime: Runtime, database: MakeDatabase) -> DatabaseTracker:
    asyncio.run(apply_database(runtime, database(replicas=3), retry=0))
    return runtime.trackers[("shop", "orders")]


def observe(runtime: Runtime, *pods: kopf.Body, event: str | None = "ADDED") -> None:
    for body in pods:
        asyncio.run(observe_database_pod(runtime, event, body))


@pytest.mark.usefixtures("tracker")
def test_pod_zero_of_a_new_database_is_labelled_primary_and_the_others_replica(
    runtime: Runtime, kube: FakeKube
) -> None:
    observe(runtime, pod(0), pod(1), pod(2))
    assert kube.pod_labels == {
        ("shop", "orders-0"): {"database.example.com/role": "primary"},
        ("shop", "orders-1"): {"database.example.com/role": "replica"},
        ("shop", "orders-2"): {"database.example.com/role": "replica"},
    }
    # The first primary of a Database that never had one may initialise an empty volume; nobody else ever.
    assert kube.pod_annotations == {("shop", "orders-0"): {"database.example.com/may-initialise": "true"}}


def test_the_primary_is_the_pod_the_status_names(runtime: Runtime, tracker: DatabaseTracker, kube: FakeKube) -> None:
    tracker.status["currentPrimary"] = "orders-2"  # after a failover
    observe(runtime, pod(0), pod(1), pod(2, role="primary"))
    assert kube.pod_labels == {
        ("shop", "orders-0"): {"database.example.com/role": "replica"},
        ("shop", "orders-1"): {"database.example.com/role": "replica"},
    }
    assert ("shop", "orders-2") not in kube.pod_annotations  # an established primary never initialises


def test_pods_are_not_labelled_before_the_databases_status_is_known(runtime: Runtime, kube: FakeKube) -> None:
    """Right after a restart the pods' events may come before the Database's: with no status yet, pod 0 would be
    labelled primary even if a failover had made another pod the primary."""
    observe(runtime, pod(0), pod(1))
    assert kube.pod_labels == {}


@pytest.mark.usefixtures("tracker")
def test_a_pod_labelled_already_is_not_labelled_again(runtime: Runtime, kube: FakeKube) -> None:
    observe(runtime, pod(0, role="primary"), pod(1, role="replica"))
    assert kube.pod_labels == {}


def test_the_status_lists_each_pod_primary_first(
    runtime: Runtime, tracker: DatabaseTracker, kube: FakeKube, database: MakeDatabase
) -> None:
    observe(runtime, pod(2, ready=False), pod(0), pod(1))
    asyncio.run(write_instances(runtime, tracker, database(replicas=3)))
    assert kube.status()["instances"] == [
        {"pod": "orders-0", "role": "primary", "ready": True},
        {"pod": "orders-1", "role": "replica", "ready": True},
        {"pod": "orders-2", "role": "replica", "ready": False},
    ]
    observe(runtime, pod(2), event="DELETED")  # scaled down
    asyncio.run(write_instances(runtime, tracker, database(replicas=2)))
    assert [item["pod"] for item in kube.status()["instances"]] == ["orders-0", "orders-1"]


def test_lag_comes_from_the_replicas_exporter_and_only_from_there(
    runtime: Runtime, tracker: DatabaseTracker, kube: FakeKube, database: MakeDatabase
) -> None:
    kube.metrics = {
        "orders-0": "mysql_up 1\n",
        "orders-1": 'mysql_slave_status_seconds_behind_master{channel_name="",master_host="orders-0"} 3\n',
    }
    observe(runtime, pod(0), pod(1), pod(2))  # orders-2's exporter does not answer
    monitored = database(replicas=3, monitoring={"enabled": True, "metrics": True})
    asyncio.run(write_instances(runtime, tracker, monitored))
    lags = {item["pod"]: item.get("lagSeconds") for item in kube.status()["instances"]}
    assert lags == {"orders-0": None, "orders-1": 3.0, "orders-2": None}

    asyncio.run(write_instances(runtime, tracker, database(replicas=3)))  # metrics off: no exporter to ask
    assert all("lagSeconds" not in item for item in kube.status()["instances"])


def test_a_replica_without_an_address_yet_has_no_lag(
    runtime: Runtime, tracker: DatabaseTracker, kube: FakeKube, database: MakeDatabase
) -> None:
    kube.metrics = {"orders-1": "pg_replication_lag_seconds 2\n"}
    observe(runtime, pod(0), pod(1, address=False))
    asyncio.run(write_instances(runtime, tracker, database(replicas=2, monitoring={"enabled": True, "metrics": True})))
    assert all("lagSeconds" not in item for item in kube.status()["instances"])


def test_metrics_are_read_straight_from_the_pod_and_never_made_up() -> None:
    """Kube.pod_metrics asks http://<pod address>:<port>/metrics (no API server proxy); what cannot be read is
    None, so the status shows no lag rather than a guess."""

    async def scenario() -> tuple[str | None, str | None, str | None]:
        async def metrics(request: web.Request) -> web.Response:
            return web.Response(text="pg_replication_lag_seconds 0.5\n")

        async def broken(request: web.Request) -> web.Response:
            return web.Response(status=500, text="pg_replication_lag_seconds 9\n")

        served = web.Application()
        served.router.add_get("/metrics", metrics)
        failing = web.Application()
        failing.router.add_get("/metrics", broken)
        runners = [web.AppRunner(served), web.AppRunner(failing)]
        ports = []
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ports.append(runner.addresses[0][1])
        kube = Kube(ApiClient())
        try:
            answered = await kube.pod_metrics("shop", "orders-1", "127.0.0.1", ports[0])
            failed = await kube.pod_metrics("shop", "orders-2", "127.0.0.1", ports[1])
            for runner in runners:
                await runner.cleanup()
            closed = await kube.pod_metrics("shop", "orders-1", "127.0.0.1", ports[0])
        finally:
            await kube.close()
        return answered, failed, closed

    answered, failed, closed = asyncio.run(scenario())
    assert answered == "pg_replication_lag_seconds 0.5\n"
    assert failed is None and closed is None


@pytest.mark.parametrize(
    ("metrics", "lag"),
    [
        ('mysql_slave_status_seconds_behind_source{channel_name=""} 12\n', 12.0),
        ("# TYPE pg_replication_lag_seconds gauge\npg_replication_lag_seconds 0.25\n", 0.25),
        ('mysql_slave_status_seconds_behind_master{channel_name=""} -1\n', None),  # not replicating: unknown
        ("pg_replication_lag_seconds NaN\n", None),
        ("mysql_up 1\n", None),
    ],
)
def test_replication_lag_is_read_from_exporter_metrics(metrics: str, lag: Any) -> None:
    assert replication_lag(metrics) == lag


class RollingKube(FakeKube):
    """While the watcher asks a replica's exporter, a pod event arrives (the StatefulSet is rolling)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    async def pod_metrics(self, namespace: str, pod_name: str, address: str, port: int) -> str | None:
        await observe_database_pod(self.runtime, "ADDED", pod(3))  # a scale-up's new pod
        return None


def test_pod_events_during_a_status_write_do_not_break_it(
    runtime: Runtime, tracker: DatabaseTracker, database: MakeDatabase
) -> None:
    observe(runtime, pod(0), pod(1), pod(2))
    runtime.kube = RollingKube(runtime)  # type: ignore[assignment]
    monitored = database(replicas=3, monitoring={"enabled": True, "metrics": True})
    asyncio.run(write_instances(runtime, tracker, monitored))  # no "dictionary changed size during iteration"
    assert tracker.instances_changed  # and the watcher writes again for what changed meanwhile


FAILED_RESTORE = {"exitCode": 1, "reason": "Error", "message": "bootstrap failed while restoring /restore/x.dump\n"}


@pytest.mark.parametrize(
    ("init_status", "failure"),
    [
        # Failed and waiting to run again (CrashLoopBackOff): the last run's message.
        ({"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": FAILED_RESTORE}},
         "bootstrap failed while restoring /restore/x.dump"),
        ({"state": {"terminated": FAILED_RESTORE}}, "bootstrap failed while restoring /restore/x.dump"),
        # Running again after a failure: still not done, the last failure stands.
        ({"state": {"running": {}}, "lastState": {"terminated": FAILED_RESTORE}},
         "bootstrap failed while restoring /restore/x.dump"),
        # Succeeded, even after earlier failures: nothing to report.
        ({"state": {"terminated": {"exitCode": 0}}, "lastState": {"terminated": FAILED_RESTORE}}, None),
        ({"state": {"running": {}}}, None),
    ],
)  # fmt: skip
def test_the_status_says_why_a_pods_bootstrap_failed(init_status: dict[str, Any], failure: str | None) -> None:
    pod = {
        "metadata": {"name": "orders-0", "labels": {"apps.kubernetes.io/pod-index": "0"}},
        "status": {"initContainerStatuses": [{"name": "bootstrap", **init_status}], "conditions": []},
    }
    [instance] = instances({"orders-0": pod}, {}, "orders-0")
    assert instance.get("bootstrapFailure") == failure
    assert instance["ready"] is False


def waiting_for(body: kopf.Body, reason: str, message: str) -> kopf.Body:
    """The pod with its server container waiting, as the kubelet reports it."""
    waiting = {"name": "server", "state": {"waiting": {"reason": reason, "message": message}}}
    return kopf.Body({**body, "status": {**body["status"], "containerStatuses": [waiting]}})


def test_a_pod_that_cannot_start_without_a_deleted_secret_gets_a_drift_check(
    runtime: Runtime, tracker: DatabaseTracker
) -> None:
    """The operator never lists Secrets: a deleted one shows when a pod needs it, and Pulumi makes it again."""
    observe(runtime, pod(0), waiting_for(pod(1, ready=False), "ContainerCreating", ""))
    assert not tracker.drift_suspected
    observe(
        runtime, waiting_for(pod(1, ready=False), "CreateContainerConfigError", 'secret "orders-credentials" not found')
    )
    assert tracker.drift_suspected


def test_a_pod_waiting_for_a_secret_during_an_operation_is_left_to_it(
    runtime: Runtime, tracker: DatabaseTracker
) -> None:
    """Our own `up` may create a pod a moment before the Secret it reads."""

    async def during_operation() -> None:
        async with tracker.operation:
            body = waiting_for(pod(1, ready=False), "CreateContainerConfigError", 'secret "orders-tls" not found')
            await observe_database_pod(runtime, "MODIFIED", body)

    asyncio.run(during_operation())
    assert not tracker.drift_suspected

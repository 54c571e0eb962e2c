"""Create, update and resume: what a user sees in status and events after each kind of outcome."""

import asyncio

import kopf
import pytest
from pulumi import automation as auto

from database_operator.apply import apply_database
from database_operator.observe import observe_owned_object, write_readiness
from database_operator.runtime import Runtime
from database_operator.stack_errors import StackBusy, StackOperationFailed, classify
from tests.operator.conftest import Events, FakeKube, FakeStacks, MakeDatabase, result, statefulset


def test_create_runs_up_and_reports_outputs(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    asyncio.run(apply_database(runtime, database(), retry=0))

    [(kind, request, refresh)] = stacks.calls
    assert (kind, request.stack, refresh) == ("up", "shop.orders", False)
    # The stack gets the spec with every default made explicit.
    assert request.spec["replicas"] == 1
    assert request.spec["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert request.environment_profile["engineSettings"]["mysql"]["innodb_buffer_pool_size"] == "128M"

    status = kube.status()
    assert status["outputs"]["endpoint"] == "orders.shop.svc:3306"
    assert status["selector"].startswith("app.kubernetes.io/component=database")
    assert status["stack"] == "shop.orders"
    assert status["observedGeneration"] == 1
    assert status["lastOperation"]["kind"] == "up"
    assert status["lastOperation"]["result"] == "succeeded"
    assert status["lastOperation"]["created"] == 6
    assert status["lastOperation"]["durationSeconds"] == 1.25
    assert kube.condition("Reconciled")["status"] == "True"
    # No StatefulSet seen yet: created, not ready.
    assert (status["phase"], status["ready"], status["replicas"]) == ("Creating", False, 0)
    assert events.posted == [("Normal", "Applied", "pulumi up: 6 to create in 1.2s")]


def test_readiness_follows_the_live_statefulset(
    runtime: Runtime, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    body = database(replicas=3)
    asyncio.run(apply_database(runtime, body, retry=0))
    tracker = runtime.trackers[("shop", "orders")]

    for ready, phase in [(1, "PartiallyReady"), (3, "Ready"), (2, "PartiallyReady")]:
        observe_owned_object(runtime, "MODIFIED", statefulset(replicas=3, ready=ready))
        asyncio.run(write_readiness(runtime, tracker, body))
        status = kube.status()
        assert (status["phase"], status["replicas"], status["ready"]) == (phase, ready, ready == 3)
        assert kube.condition("Ready")["status"] == ("True" if ready == 3 else "False")
        assert kube.condition("Ready")["message"] == f"{ready}/3 replicas ready"


def test_update_applies_the_new_spec_and_generation(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    asyncio.run(apply_database(runtime, database(), retry=0))
    stacks.up_results.append(result("up", update=1, same=5))
    asyncio.run(apply_database(runtime, database(generation=2, replicas=3), retry=0))

    assert stacks.calls[-1][1].spec["replicas"] == 3
    assert kube.status()["observedGeneration"] == 2
    assert kube.status()["lastOperation"]["updated"] == 1
    assert kube.condition("Reconciled")["observedGeneration"] == 2


def test_no_op_update_reports_no_changes(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    stacks.up_results.append(result("up", same=6))
    asyncio.run(apply_database(runtime, database(), retry=0))
    assert events.posted[-1] == ("Normal", "Applied", "pulumi up: no changes in 1.2s")
    assert kube.status()["lastOperation"]["unchanged"] == 6


def test_invalid_spec_fails_without_touching_the_stack(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    with pytest.raises(kopf.PermanentError, match=r"spec\.replicas: production requires at least 2 replicas"):
        asyncio.run(apply_database(runtime, database(environment="production", replicas=1), retry=0))

    assert stacks.calls == []
    assert kube.status()["phase"] == "Failed"
    reconciled = kube.condition("Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "InvalidSpec")
    assert "spec.replicas: production requires at least 2 replicas (got 1)" in reconciled["message"]
    assert events.reasons() == ["InvalidSpec"]


@pytest.mark.parametrize(("retry", "delay"), [(0, 5.0), (1, 10.0), (3, 40.0), (6, 60.0)])
def test_transient_errors_retry_with_bounded_backoff(
    runtime: Runtime,
    stacks: FakeStacks,
    kube: FakeKube,
    events: Events,
    database: MakeDatabase,
    retry: int,
    delay: float,
) -> None:
    stacks.up_results.append(StackOperationFailed("error: dial tcp 127.0.0.1:6443: connection refused", transient=True))
    with pytest.raises(kopf.TemporaryError) as raised:
        asyncio.run(apply_database(runtime, database(), retry=retry))

    assert raised.value.delay == delay
    reconciled = kube.condition("Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "Retrying")
    assert "connection refused" in reconciled["message"] and f"retrying in {delay:.0f}s" in reconciled["message"]
    assert kube.status()["phase"] != "Failed"
    assert kube.status()["lastOperation"]["result"] == "failed"
    assert events.reasons() == ["RetryingOperation"]


def test_beyond_the_retry_budget_a_database_is_failed_and_still_retried(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    stacks.up_results.append(StackOperationFailed("error: context deadline exceeded", transient=True))
    with pytest.raises(kopf.TemporaryError) as raised:
        asyncio.run(apply_database(runtime, database(), retry=7))  # the 8th attempt: the budget is 8
    assert raised.value.delay == 60.0
    assert kube.status()["phase"] == "Failed"
    reconciled = kube.condition("Reconciled")
    assert reconciled["reason"] == "RetriesExhausted"
    assert reconciled["message"] == "error: context deadline exceeded (failed 8 times; still retrying, every 60s)"
    assert events.reasons() == ["OperationFailed"]

    asyncio.run(apply_database(runtime, database(), retry=8))  # the cause went away: it heals by itself
    assert kube.condition("Reconciled")["status"] == "True" and kube.status()["phase"] != "Failed"


def test_a_database_that_failed_with_a_conflict_recovers_by_itself(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    conflict = classify(
        auto.CommandError(
            auto.CommandResult(
                stdout="",
                stderr='error: Operation cannot be fulfilled on statefulsets.apps "orders": the object has been '
                "modified; please apply your changes to the latest version and try again",
                code=1,
            )
        )
    )
    stacks.up_results.append(conflict)
    with pytest.raises(kopf.TemporaryError):  # not PermanentError: kopf retries it without an edit
        asyncio.run(apply_database(runtime, database(), retry=0))
    assert kube.status()["phase"] != "Failed"
    asyncio.run(apply_database(runtime, database(), retry=1))
    assert kube.condition("Reconciled")["status"] == "True"


def test_an_unexpected_error_is_reported_and_retried(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    stacks.up_results.append(RuntimeError("cannot schedule new futures after shutdown"))
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(apply_database(runtime, database(), retry=0))
    assert "cannot schedule new futures" in kube.condition("Reconciled")["message"]
    assert events.reasons() == ["RetryingOperation"]


def test_a_held_lock_is_retried_not_failed(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    stacks.up_results.append(StackBusy("another operation holds the stack's lock"))
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(apply_database(runtime, database(), retry=0))
    assert kube.condition("Reconciled")["reason"] == "Retrying"


def test_permanent_operation_failure_marks_the_database_failed(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    message = 'error: StatefulSet.apps "orders" is invalid: spec: Forbidden: updates to statefulset spec'
    stacks.up_results.append(StackOperationFailed(message, transient=False))
    with pytest.raises(kopf.PermanentError):
        asyncio.run(apply_database(runtime, database(), retry=0))

    assert kube.status()["phase"] == "Failed"
    assert kube.condition("Reconciled")["message"] == message
    assert events.posted[-1] == ("Warning", "OperationFailed", message)


def test_a_fixed_spec_recovers_from_failed(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    with pytest.raises(kopf.PermanentError):
        asyncio.run(apply_database(runtime, database(replicas=0), retry=0))
    asyncio.run(apply_database(runtime, database(generation=2, replicas=1), retry=0))
    assert kube.status()["phase"] == "Creating"
    assert kube.condition("Reconciled")["status"] == "True"


def test_status_never_carries_a_secret(
    runtime: Runtime, kube: FakeKube, stacks: FakeStacks, database: MakeDatabase
) -> None:
    leaky = result("up", create=1)
    leaky = type(leaky)(**{**leaky.__dict__, "outputs": {**leaky.outputs, "adminPassword": "hunter2hunter2"}})
    stacks.up_results.append(leaky)
    asyncio.run(apply_database(runtime, database(), retry=0))
    assert "hunter2" not in repr(kube.patches)


def test_writes_only_what_changed(runtime: Runtime, kube: FakeKube, stacks: FakeStacks, database: MakeDatabase) -> None:
    asyncio.run(apply_database(runtime, database(), retry=0))
    before = len(kube.patches)
    tracker = runtime.trackers[("shop", "orders")]
    asyncio.run(write_readiness(runtime, tracker, database()))
    assert len(kube.patches) == before


def test_not_ready_until_the_current_spec_is_applied(
    runtime: Runtime, kube: FakeKube, stacks: FakeStacks, database: MakeDatabase
) -> None:
    """kubectl wait --for=condition=Ready must not return while `pulumi up` is still running."""
    tracker = runtime.tracker("shop", "orders")
    observe_owned_object(runtime, "MODIFIED", statefulset(replicas=1, ready=1))
    asyncio.run(write_readiness(runtime, tracker, database()))
    assert (kube.status()["phase"], kube.status()["ready"]) == ("Creating", False)
    assert (kube.condition("Ready")["status"], kube.condition("Ready")["reason"]) == ("False", "Reconciling")

    asyncio.run(apply_database(runtime, database(), retry=0))
    assert (kube.status()["phase"], kube.status()["ready"]) == ("Ready", True)

    # A new generation is being applied: not Ready until its `up` has finished.
    asyncio.run(write_readiness(runtime, tracker, database(generation=2, replicas=3)))
    assert kube.status()["ready"] is False
    assert kube.condition("Ready")["reason"] == "Reconciling"


def test_an_existing_credentials_secret_is_adopted_not_replaced(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    """A Database whose stack is new but whose Secret exists (restored backend, another operator before) keeps
    the passwords its server was initialised with."""
    kube.secrets[("shop", "orders-credentials")] = {"admin-password": "kept-admin", "password": "kept-user"}
    asyncio.run(apply_database(runtime, database(), retry=0))
    assert stacks.calls[0][1].live_passwords == {"adminPassword": "kept-admin", "userPassword": "kept-user"}


def test_a_restart_applies_nothing_that_was_applied_already(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    asyncio.run(apply_database(runtime, database(generation=1), retry=0))
    assert kube.status()["appliedConfiguration"].startswith("1-")
    runtime.trackers.clear()  # the operator restarts: what it knows comes from the stored status

    asyncio.run(apply_database(runtime, database(generation=1, status=kube.status()), retry=0, resumed=True))
    assert stacks.kinds() == ["up"]  # in sync: no `up`
    assert runtime.trackers[("shop", "orders")].applied_generation == 1  # drift checks take over

    changed_while_down = database(generation=2, status=kube.status(), replicas=2)
    asyncio.run(apply_database(runtime, changed_while_down, retry=0, resumed=True))
    assert stacks.kinds() == ["up", "up"]

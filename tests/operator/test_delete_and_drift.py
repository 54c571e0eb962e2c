"""Deletion through the finalizer, and drift: corrected or only reported, per the Database's driftPolicy."""

import asyncio

import kopf
import pytest

from database_operator.apply import apply_database
from database_operator.deletion import delete_database
from database_operator.drift import check_drift
from database_operator.runtime import Runtime
from database_operator.stack_errors import StackOperationFailed
from tests.operator.conftest import Events, FakeKube, FakeStacks, MakeDatabase, result


def test_delete_destroys_the_stack_and_forgets_the_database(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    asyncio.run(apply_database(runtime, database(), retry=0))
    asyncio.run(delete_database(runtime, database(), retry=0))

    assert stacks.calls[-1][:2] == ("destroy", ("shop", "orders"))
    # Its backup Jobs go first: their pods, even finished, would keep the backup volume from being deleted.
    assert kube.deleted_jobs == [("shop", "app.kubernetes.io/instance=orders,app.kubernetes.io/component=backup")]
    assert kube.status()["phase"] == "Deleting"
    assert events.posted[-1] == ("Normal", "Deleted", "pulumi destroy: 6 to delete; stack removed")
    assert ("shop", "orders") not in runtime.trackers


def test_a_failed_destroy_keeps_the_finalizer_and_retries(
    runtime: Runtime, stacks: FakeStacks, events: Events, database: MakeDatabase
) -> None:
    stacks.destroy_results.append(
        StackOperationFailed("error: the server is currently unable to handle the request", True)
    )
    with pytest.raises(kopf.TemporaryError) as raised:
        asyncio.run(delete_database(runtime, database(), retry=1))
    assert raised.value.delay == 10
    assert events.reasons() == ["DeleteFailed"]
    assert ("shop", "orders") in runtime.trackers


def deployed(runtime: Runtime, database: MakeDatabase, **spec: object) -> kopf.Body:
    body = database(**spec)
    asyncio.run(apply_database(runtime, body, retry=0))
    return body


def test_in_sync_costs_one_preview_and_no_up(
    runtime: Runtime, stacks: FakeStacks, events: Events, database: MakeDatabase
) -> None:
    body = deployed(runtime, database)
    asyncio.run(check_drift(runtime, runtime.trackers[("shop", "orders")], body))
    assert stacks.kinds() == ["up", "check_drift"]
    assert events.reasons() == ["Applied"]


def test_drift_is_corrected_by_default(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    body = deployed(runtime, database)
    stacks.preview_results.append(result("preview", create=1, same=5))
    stacks.up_results.append(result("up", create=1, same=5))
    asyncio.run(check_drift(runtime, runtime.trackers[("shop", "orders")], body))

    assert stacks.kinds() == ["up", "check_drift", "correct_drift"]
    drifted = kube.condition("Drifted")
    assert (drifted["status"], drifted["reason"], drifted["message"]) == (
        "False",
        "DriftCorrected",
        "corrected: 1 to create",
    )
    assert events.posted[-1] == ("Warning", "DriftCorrected", "out-of-band changes reverted (1 to create)")
    assert kube.status()["lastOperation"]["created"] == 1


def test_drift_is_only_reported_under_report_policy(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    body = deployed(runtime, database, driftPolicy="Report")
    stacks.preview_results.append(result("preview", update=2, same=4))
    asyncio.run(check_drift(runtime, runtime.trackers[("shop", "orders")], body))

    assert stacks.kinds() == ["up", "check_drift"]
    drifted = kube.condition("Drifted")
    assert (drifted["status"], drifted["reason"]) == ("True", "DriftDetected")
    assert events.reasons()[-1] == "DriftDetected"

    # Once the objects are back in line, the condition clears.
    asyncio.run(check_drift(runtime, runtime.trackers[("shop", "orders")], body))
    assert kube.condition("Drifted")["status"] == "False"


def test_a_failed_drift_check_is_reported_and_survived(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, events: Events, database: MakeDatabase
) -> None:
    body = deployed(runtime, database)
    stacks.preview_results.append(StackOperationFailed("error: connection refused", transient=True))
    asyncio.run(check_drift(runtime, runtime.trackers[("shop", "orders")], body))
    assert events.posted[-1] == ("Warning", "DriftCheckFailed", "error: connection refused")
    drifted = kube.condition("Drifted")  # not known either way: Unknown, never a made-up False
    assert (drifted["status"], drifted["reason"]) == ("Unknown", "DriftCheckFailed")
    asyncio.run(check_drift(runtime, runtime.trackers[("shop", "orders")], body))  # the next check succeeds
    assert kube.condition("Drifted")["status"] == "False"

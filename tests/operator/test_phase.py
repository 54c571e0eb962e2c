"""The phase comes from the typed Reconciled state and the live StatefulSet."""

import pytest

from database_api.status import Phase
from database_operator.status import Readiness, Reconcile, phase, set_condition

READY = Readiness(desired=1, ready=1, current=True)


@pytest.mark.parametrize(
    ("succeeded", "reason", "expected"),
    [
        (True, Reconcile.APPLIED, Phase.READY),
        (False, Reconcile.RETRYING, Phase.CREATING),
        (False, Reconcile.RETRIES_EXHAUSTED, Phase.FAILED),
        (False, Reconcile.OPERATION_FAILED, Phase.FAILED),
        (False, Reconcile.INVALID_SPEC, Phase.FAILED),
        (False, Reconcile.AWAITING_APPROVAL, Phase.AWAITING_APPROVAL),
        (False, "SomethingANewerVersionWrites", Phase.CREATING),  # unknown: never a made-up Failed
    ],
)
def test_phase_follows_the_reconciled_state(succeeded: bool, reason: str, expected: Phase) -> None:
    conditions = set_condition([], "Reconciled", succeeded, reason, "", 1)
    assert phase(conditions, READY, 1) is expected


def test_a_roll_in_progress_is_updating_until_every_pod_runs_the_latest_template_and_is_ready() -> None:
    conditions = set_condition([], "Reconciled", True, Reconcile.APPLIED, "", 1)
    rolling = Readiness(desired=3, ready=2, current=False, outdated=1)
    assert phase(conditions, rolling, 1) is Phase.UPDATING
    assert phase(conditions, Readiness(desired=3, ready=2, current=False), 1) is Phase.PARTIALLY_READY
    assert phase(conditions, Readiness(desired=3, ready=3, current=True), 1) is Phase.READY

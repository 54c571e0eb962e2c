"""Which stack errors are worth retrying."""

import pytest
from pulumi import automation as auto

from database_operator.stack_errors import StackBusy, StackOperationFailed, classify


def command_error(stderr: str) -> auto.CommandError:
    return auto.CommandError(auto.CommandResult(stdout="Updating (shop.orders)\n", stderr=stderr, code=1))


@pytest.mark.parametrize(
    ("stderr", "transient"),
    [
        ('error: Get "https://127.0.0.1:6443/api": dial tcp 127.0.0.1:6443: connect: connection refused', True),
        ("error: the server is currently unable to handle the request", True),
        ('error: StatefulSet.apps "orders" is invalid: spec: Forbidden: updates to statefulset spec', False),
    ],
)
def test_errors_are_classified(stderr: str, transient: bool) -> None:
    error = classify(command_error(stderr))
    assert isinstance(error, StackOperationFailed) and error.transient is transient
    assert str(error).startswith("error:")


def test_a_lock_conflict_is_busy() -> None:
    conflict = auto.ConcurrentUpdateError(auto.CommandResult(stdout="", stderr="[409] Conflict", code=255))
    assert isinstance(classify(conflict), StackBusy)

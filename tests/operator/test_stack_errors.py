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
        ('error: Service "orders" is invalid: spec.clusterIP: Invalid value: "None": field is immutable', False),
        ('error: admission webhook "rules.database.example.com" denied the request: spec.replicas: ...', False),
        # Unknown errors are transient by default: retried within the budget, not stuck until an edit.
        (
            'error: Operation cannot be fulfilled on statefulsets.apps "orders": the object has been modified; '
            "please apply your changes to the latest version and try again",
            True,
        ),
        ("error: context deadline exceeded", True),
        ('error: Internal error occurred: failed calling webhook "x.example.com": connect: connection refused', True),
        ("error: unexpected EOF", True),
        ('error: statefulsets.apps is forbidden: User "system:serviceaccount:x:y" cannot patch resource', True),
        # A validation error that mentions a timeout is still a spec problem.
        ('error: CronJob.batch "orders-backup" is invalid: spec.jobTemplate.spec.activeDeadlineSeconds', False),
    ],
)
def test_errors_are_classified(stderr: str, transient: bool) -> None:
    error = classify(command_error(stderr))
    assert isinstance(error, StackOperationFailed) and error.transient is transient
    assert str(error).startswith("error:")


def test_a_lock_conflict_is_busy() -> None:
    conflict = auto.ConcurrentUpdateError(auto.CommandResult(stdout="", stderr="[409] Conflict", code=255))
    assert isinstance(classify(conflict), StackBusy)

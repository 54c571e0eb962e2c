"""The drift pre-check, with a short drift interval: an in-sync Database costs no Pulumi run interval after
interval, while an owned object no watch sees (its NetworkPolicy) deleted by hand is still recreated."""

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Kubectl, OperatorProcess, wait_for
from tests.e2e.conftest import stepping_in
from tests.e2e.databases import database, event_reasons, wait_ready

INTERVAL_SECONDS = 3
PULUMI_RUN = re.compile(r"stack \S+: [a-z ]+ finished")  # up, drift check, preview, destroy
HANDED_TO_PULUMI = re.compile(r"drift check: ")
PRECHECK = re.compile(r"drift pre-check: ")


@pytest.fixture(scope="module")
def checking_operator(
    cluster_env: dict[str, str], operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """An operator of its own, for namespaces of its own, checking every few seconds; the session's steps aside."""
    state: Path = tmp_path_factory.mktemp("precheck-state")
    processes = stepping_in(operator, cluster_env, state, "precheck-*", DBOP_DRIFT_INTERVAL=str(INTERVAL_SECONDS))
    process = next(processes)
    yield process
    next(processes, None)  # stopped, and the session's operator back
    assert process.tracebacks() == [], f"see {process.log_path}"


@pytest.fixture
def precheck_namespace(kubectl: Kubectl, checking_operator: OperatorProcess) -> Iterator[str]:
    """The checking operator's namespace, its pods on kwok's nodes; its Databases deleted through that operator."""
    name = f"precheck-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    kubectl.run("annotate", "namespace", name, "scheduler.alpha.kubernetes.io/node-selector=type=kwok")
    try:
        yield name
    finally:
        kubectl.run("delete", "databases", "--all", "-n", name, "--wait=true", "--timeout=120s", check=False)
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def count(pattern: re.Pattern[str], operator: OperatorProcess) -> int:
    return len(pattern.findall(operator.log_path.read_text(errors="replace")))


def test_in_sync_costs_no_pulumi_run_and_a_deleted_object_is_recreated(
    kubectl: Kubectl, checking_operator: OperatorProcess, precheck_namespace: str
) -> None:
    namespace = precheck_namespace
    kubectl.apply(database("quiet", namespace))
    wait_ready(kubectl, "quiet", namespace)  # the `up` has recorded its objects by then
    runs = count(PULUMI_RUN, checking_operator)
    handed = count(HANDED_TO_PULUMI, checking_operator)

    kubectl.run("delete", "networkpolicy", "quiet", "-n", namespace, "--wait=true")
    wait_for("the NetworkPolicy recreated", lambda: kubectl.get("networkpolicy", "quiet", namespace) is not None)
    wait_for("a DriftCorrected event", lambda: "DriftCorrected" in event_reasons(kubectl, "quiet", namespace))
    assert count(HANDED_TO_PULUMI, checking_operator) > handed  # no watch sees NetworkPolicies: the pre-check
    corrected = count(PULUMI_RUN, checking_operator)
    assert corrected > runs

    # In sync again: intervals pass, the pre-check lists and compares, Pulumi is never asked.
    prechecks = count(PRECHECK, checking_operator)
    wait_for("three more pre-checks", lambda: count(PRECHECK, checking_operator) >= prechecks + 3, timeout=30)
    assert count(PULUMI_RUN, checking_operator) == corrected

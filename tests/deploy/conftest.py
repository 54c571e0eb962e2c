"""A failed test of the in-cluster operator shows what its pods logged: the operator runs in the cluster, and its
log is gone with its namespace once the module ends."""

from collections.abc import Generator

import pytest

from tests.deploy.deployed import OPERATOR_NAMESPACE, SELECTOR
from tests.e2e.cluster import Kubectl


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    cluster_env = getattr(item, "funcargs", {}).get("cluster_env")
    if report.failed and cluster_env is not None:
        kubectl = Kubectl(cluster_env)
        for command in (
            ("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "wide"),
            ("get", "clusterkopfpeering", "database-operator", "-o", "yaml"),
            ("logs", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR, "--prefix", "--tail=-1", "--all-containers"),
        ):
            result = kubectl.run(*command, check=False)
            report.sections.append((f"kubectl {' '.join(command)}", result.stdout + result.stderr))

"""The operator survives being killed mid-update, and handles many Databases at once."""

import time
from pathlib import Path

from database_operator.recovery import IN_FLIGHT_MARKER
from tests.e2e.cluster import Kubectl, OperatorProcess, pulumi_processes_of, wait_for
from tests.e2e.databases import database, wait_ready, wait_statefulset


def test_killed_mid_update_converges_after_restart(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, state_dir: Path
) -> None:
    kubectl.apply(database("crash", namespace))
    wait_ready(kubectl, "crash", namespace)

    kubectl.apply(database("crash", namespace, replicas=3, backup={"enabled": True}))

    # The kill must cut an operation short, not just stop an idle operator: wait until `pulumi up` runs.
    in_flight = state_dir / "workspaces" / f"{namespace}.crash" / IN_FLIGHT_MARKER
    wait_for("the update's `pulumi up` to run", in_flight.exists, timeout=30, interval=0.05)
    killed = list(operator.pids)
    operator.kill()
    assert in_flight.exists()  # cut short: its marker was left behind
    log_start = len(operator.log_path.read_text(errors="replace"))
    operator.start()

    wait_statefulset(kubectl, "crash", namespace, timeout=120, replicas=3)
    wait_for("the backup CronJob", lambda: kubectl.get("cronjob", "crash-backup", namespace), timeout=120)
    db = wait_ready(kubectl, "crash", namespace, timeout=180)
    assert db["status"]["lastOperation"]["result"] == "succeeded"
    after_restart = operator.log_path.read_text(errors="replace")[log_start:]
    assert f"stack {namespace}.crash: the previous operation was cut short; refreshing its state" in after_restart
    assert not in_flight.exists()
    assert pulumi_processes_of(killed) == []  # the killed instance's CLI and plugins were ended at the start


def test_ten_databases_at_once_all_become_ready(kubectl: Kubectl, namespace: str) -> None:
    started = time.monotonic()
    for index in range(10):
        engine = ("mysql", "8.0") if index % 2 else ("postgresql", "16")
        kubectl.apply(database(f"db{index}", namespace, type=engine[0], version=engine[1]))
    for index in range(10):
        wait_ready(kubectl, f"db{index}", namespace, timeout=300)
    print(f"10 Databases Ready in {time.monotonic() - started:.1f}s")

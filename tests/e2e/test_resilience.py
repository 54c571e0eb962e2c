"""The operator survives being killed mid-update, and handles many Databases at once."""

import time

from tests.e2e.cluster import Kubectl, OperatorProcess, wait_for
from tests.e2e.databases import database, wait_ready, wait_statefulset


def test_killed_mid_update_converges_after_restart(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> None:
    kubectl.apply(database("crash", namespace))
    wait_ready(kubectl, "crash", namespace)

    kubectl.apply(database("crash", namespace, replicas=3, backup={"enabled": True}))

    def updating() -> bool:
        db = kubectl.get("database", "crash", namespace)
        return bool(db) and (db["status"].get("observedGeneration") != db["metadata"]["generation"])

    wait_for("the update to start", updating, timeout=10, interval=0.05)
    time.sleep(1.0)  # let `pulumi up` get going
    operator.kill()
    operator.start()

    wait_statefulset(kubectl, "crash", namespace, timeout=120, replicas=3)
    wait_for("the backup CronJob", lambda: kubectl.get("cronjob", "crash-backup", namespace), timeout=120)
    db = wait_ready(kubectl, "crash", namespace, timeout=180)
    assert db["status"]["lastOperation"]["result"] == "succeeded"


def test_ten_databases_at_once_all_become_ready(kubectl: Kubectl, namespace: str) -> None:
    started = time.monotonic()
    for index in range(10):
        engine = ("mysql", "8.0") if index % 2 else ("postgresql", "16")
        kubectl.apply(database(f"db{index}", namespace, type=engine[0], version=engine[1]))
    for index in range(10):
        wait_ready(kubectl, f"db{index}", namespace, timeout=300)
    print(f"10 Databases Ready in {time.monotonic() - started:.1f}s")

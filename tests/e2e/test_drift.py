"""Out-of-band changes to a Database's objects are corrected (or only reported) and recorded."""

from tests.e2e.cluster import Kubectl, wait_for
from tests.e2e.databases import condition, database, event_reasons, wait_ready, wait_statefulset


def test_deleted_statefulset_is_recreated(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("drift", namespace))
    wait_ready(kubectl, "drift", namespace)
    kubectl.run("delete", "statefulset", "drift", "-n", namespace, "--wait=true")
    wait_statefulset(kubectl, "drift", namespace, timeout=90)
    db = wait_ready(kubectl, "drift", namespace)
    assert condition(db, "Drifted")["reason"] == "DriftCorrected"
    assert "DriftCorrected" in event_reasons(kubectl, "drift", namespace)


def test_the_pods_files_cannot_be_edited_and_come_back_when_deleted(kubectl: Kubectl, namespace: str) -> None:
    """The pods' files ConfigMap is immutable (a pod runs what its template was made with); deleted, it is drift."""
    kubectl.apply(database("edited", namespace))
    pod_files = wait_ready(kubectl, "edited", namespace)["status"]["outputs"]["configMap"]
    patch = '{"data":{"database.cnf":"[mysqld]\\nmax_connections = 5\\n"}}'
    refused = kubectl.run("patch", "configmap", pod_files, "-n", namespace, "--type=merge", "-p", patch, check=False)
    assert refused.returncode != 0 and "immutable" in refused.stderr
    kubectl.run("delete", "configmap", pod_files, "-n", namespace, "--wait=true")

    def made_again() -> bool:
        config = kubectl.get("configmap", pod_files, namespace)
        return config is not None and "max_connections = 100" in config["data"]["database.cnf"]

    wait_for("the ConfigMap to be made again", made_again, timeout=90)
    wait_for("a DriftCorrected event", lambda: "DriftCorrected" in event_reasons(kubectl, "edited", namespace))


def test_statefulset_scaled_by_hand_is_scaled_back(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("scaled", namespace))
    wait_ready(kubectl, "scaled", namespace)
    kubectl.run("scale", "statefulset", "scaled", "-n", namespace, "--replicas=4")
    wait_statefulset(kubectl, "scaled", namespace, timeout=90, replicas=1)
    wait_for("a DriftCorrected event", lambda: "DriftCorrected" in event_reasons(kubectl, "scaled", namespace))


def test_report_policy_records_drift_without_correcting(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("watched", namespace, driftPolicy="Report"))
    wait_ready(kubectl, "watched", namespace)
    kubectl.run("scale", "statefulset", "watched", "-n", namespace, "--replicas=2")

    def reported() -> bool:
        db = kubectl.get("database", "watched", namespace)
        conditions = (db or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Drifted" and c["status"] == "True" for c in conditions)

    wait_for("the Drifted condition", reported, timeout=90)
    assert kubectl.get("statefulset", "watched", namespace)["spec"]["replicas"] == 2
    assert "DriftDetected" in event_reasons(kubectl, "watched", namespace)

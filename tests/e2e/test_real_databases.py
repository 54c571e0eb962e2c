"""Databases that really run, on the real node (toolchain/cluster.sh's kubelet and containerd, images built from
Debian packages under `localhost/`): the operator's own StatefulSet, bootstrap, probes and Services.

For PostgreSQL and MariaDB: apply -> Ready with the real readiness probe; a client pod connects through the
`<name>` Service with the Secret's application user, creates a table, inserts and reads rows; the primary pod
deleted with its credentials Secret comes back Ready with the rows and the same Secret, and so does the Database
deleted under `deletionPolicy: Retain` and created again (same volume, same passwords); its `storage.size` grown,
the claim grows and the pod keeps running.
Three pods: every replica has the primary's rows, `<name>-ro` serves them and refuses writes, the exporters
report the server up and a replica's lag, which the operator shows as the replicas' `lagSeconds` in the status;
scaled to 1 and back to 3, the replicas catch up. An on-demand backup
reports the size the script wrote and restores into a new Database with the rows; a restore from a corrupt dump
never becomes Ready, says why in its status, and stays not Ready after its init container ran again; a backup
scheduled every minute runs, and `lastBackup` is its Job's completion time.

These tests need the real node (the default of toolchain/cluster.sh; not `DBOP_NODE=kwok`). They run with their
own operator process, which serves the `real-*` namespaces with the local images (stacks-config-local), while
the session's kwok-only operator steps aside (one leader per cluster)."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from database_api.names import REPLICA_ROLE
from database_operator.instances import replication_lag
from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, wait_for
from tests.e2e.conftest import stepping_in
from tests.e2e.databases import CLIENT_IMAGE, client_pod, mounts, query, routed_client, wait_ready
from tests.node.pods import pod as pod_manifest
from tests.node.pods import with_claim

VERSIONS = {"postgresql": "15", "mariadb": "10.11"}
READY_TIMEOUT = 240


@pytest.fixture(scope="module")
def real_node(kubectl: Kubectl) -> None:
    nodes = kubectl.run("get", "nodes", "-l", "type=real", "-o", "name", check=False).stdout.split()
    if not nodes:
        pytest.fail("no real node in this cluster (toolchain/cluster.sh starts one unless DBOP_NODE=kwok)")


@pytest.fixture(scope="module")
def real_operator(
    cluster_env: dict[str, str],
    kubectl: Kubectl,
    real_node: None,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with the local images (stacks-config-local). Only one operator leads a cluster
    (leadership.py), so the session's kwok operator steps aside meanwhile."""
    stacks_config = REPO / "stacks-config-local"
    state_dir = tmp_path_factory.mktemp("real-operator")
    yield from stepping_in(operator, cluster_env, state_dir, "real-*", DATABASE_STACKS_CONFIG=str(stacks_config))


def real_namespace(kubectl: Kubectl, prefix: str) -> Iterator[str]:
    """A namespace of its own for one test; its pods go to the real node (the cluster's default node selector)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kubectl.run("delete", "databases", "--all", "-n", name, "--wait=true", "--timeout=120s", check=False)
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(kubectl: Kubectl, real_operator: OperatorProcess) -> Iterator[str]:
    """A namespace of the real operator's."""
    yield from real_namespace(kubectl, "real")


def database(name: str, namespace: str, engine: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "database.example.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": engine, "version": VERSIONS[engine], "storage": {"size": "1Gi"}, **spec},
    }


def describe(kubectl: Kubectl, namespace: str, pod: str) -> str:
    return kubectl.run("describe", "pod", pod, "-n", namespace, check=False).stdout[-3000:]


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_database_runs_serves_its_application_and_survives_losing_its_pod_and_itself(
    kubectl: Kubectl, namespace: str, engine: str
) -> None:
    client = serving(kubectl, namespace, engine, "shop", deletionPolicy="Retain")
    query(kubectl, namespace, client, engine, "shop", "INSERT INTO notes VALUES (1, 'one'), (2, 'two')")
    assert query(kubectl, namespace, client, engine, "shop", "SELECT id, note FROM notes ORDER BY id") == (
        "1\tone\n2\ttwo\n"
    )

    # Its credentials Secret deleted too, by mistake: the new pod cannot start without it, the operator sees that
    # at once (it never lists Secrets), and Pulumi makes the Secret again from the stack's settings, byte for byte.
    credentials = kubectl.get("secret", "shop-credentials", namespace)["data"]  # type: ignore[index]
    kubectl.run("delete", "secret", "shop-credentials", "-n", namespace)
    uid = kubectl.get("pod", "shop-0", namespace)["metadata"]["uid"]  # type: ignore[index]
    kubectl.run("delete", "pod", "shop-0", "-n", namespace, "--wait=true", "--timeout=110s")
    wait_for("a new primary pod", lambda: (kubectl.get("pod", "shop-0", namespace) or {}).get("metadata", {})
             .get("uid") not in (None, uid), timeout=60)  # fmt: skip
    kubectl.run("wait", "-n", namespace, "--for=condition=Ready", "pod/shop-0", "--timeout=110s")
    wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)
    rows = wait_for(
        "the rows through the Service again", lambda: rows_or_none(kubectl, namespace, client, engine, "shop")
    )
    assert rows == "1\tone\n2\ttwo\n"
    assert kubectl.get("secret", "shop-credentials", namespace)["data"] == credentials  # type: ignore[index]

    # Deleted under Retain and created again: the same volume, the bootstrap leaves it alone, the same passwords.
    password = kubectl.get("secret", "shop-credentials", namespace)["data"]["password"]  # type: ignore[index]
    kubectl.run("delete", "database", "shop", "-n", namespace, "--wait=true", "--timeout=110s")
    wait_for("the pods to go", lambda: kubectl.get("pod", "shop-0", namespace) is None, timeout=60)
    kubectl.apply(database("shop", namespace, engine, deletionPolicy="Retain"))
    wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)
    assert kubectl.get("secret", "shop-credentials", namespace)["data"]["password"] == password  # type: ignore[index]
    logs = kubectl.run("logs", "-n", namespace, "shop-0", "-c", "bootstrap").stdout
    assert "holds a complete database" in logs
    rows = wait_for("the rows again", lambda: rows_or_none(kubectl, namespace, client, engine, "shop"))
    assert rows == "1\tone\n2\ttwo\n"

    # storage.size grows: the claim grows in place and the pod keeps running; only the StatefulSet, whose claim
    # template cannot change, is re-created (deleted with its pods orphaned).
    pod = kubectl.get("pod", "shop-0", namespace)
    statefulset = kubectl.get("statefulset", "shop", namespace)
    assert pod is not None and statefulset is not None
    kubectl.run("patch", "database", "shop", "-n", namespace, "--type=merge", "-p", GROWN)
    wait_for("the claim to grow", lambda: claim_capacity(kubectl, namespace, "data-shop-0") == "2Gi", timeout=120)
    wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)
    grown = kubectl.get("statefulset", "shop", namespace)
    assert grown is not None and grown["metadata"]["uid"] != statefulset["metadata"]["uid"]
    [template] = grown["spec"]["volumeClaimTemplates"]
    assert template["spec"]["resources"]["requests"]["storage"] == "2Gi"
    after = kubectl.get("pod", "shop-0", namespace)
    assert after is not None and after["metadata"]["uid"] == pod["metadata"]["uid"]
    assert restart_counts(after) == restart_counts(pod)
    assert rows_or_none(kubectl, namespace, client, engine, "shop") == "1\tone\n2\ttwo\n"


GROWN = '{"spec": {"storage": {"size": "2Gi"}}}'


def claim_capacity(kubectl: Kubectl, namespace: str, claim: str) -> str | None:
    """What the volume provides (status.capacity), not what the claim asks for."""
    return (((kubectl.get("pvc", claim, namespace) or {}).get("status") or {}).get("capacity") or {}).get("storage")


def restart_counts(pod: dict[str, Any]) -> dict[str, int]:
    return {status["name"]: status["restartCount"] for status in pod["status"]["containerStatuses"]}


def serving(kubectl: Kubectl, namespace: str, engine: str, name: str, **spec: Any) -> str:
    """Apply a Database, wait until it is Ready, create the table `notes` as its application user; the client pod."""
    kubectl.apply(database(name, namespace, engine, **spec))
    try:
        wait_ready(kubectl, name, namespace, timeout=READY_TIMEOUT)
    except AssertionError as error:
        pods = kubectl.run("get", "pods", "-n", namespace, "-o", "name", check=False).stdout.split()
        described = "\n".join(describe(kubectl, namespace, pod.split("/")[1]) for pod in pods)
        raise AssertionError(f"{error}\n{described}") from None
    client = routed_client(kubectl, namespace, engine, name)
    query(kubectl, namespace, client, engine, name, "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    return client


def rows_or_none(kubectl: Kubectl, namespace: str, client: str, engine: str, service: str) -> str | None:
    """The rows of `notes` through `service`; None while it cannot answer (no table yet, a pod not routed yet)."""
    try:
        return query(kubectl, namespace, client, engine, service, "SELECT id, note FROM notes ORDER BY id") or None
    except AssertionError:
        return None


EXPORTER_UP = {"postgresql": (9187, "pg_up 1"), "mariadb": (9104, "mysql_up 1")}


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_replicas_follow_the_primary_refuse_writes_and_catch_up_after_scaling(
    kubectl: Kubectl, namespace: str, engine: str
) -> None:
    """Three pods with the metrics exporter (the local node's: postgres_exporter 0.11, mysqld_exporter 0.14)."""
    # The NetworkPolicy opens the exporter port to monitoring and the operator only: name the client pod as
    # monitoring.
    scraper = {"podSelector": {"matchLabels": {"app": "client-shop"}}}
    monitored = {"enabled": True, "metrics": True}
    client = serving(
        kubectl, namespace, engine, "shop", replicas=3, monitoring=monitored, network={"monitoring": [scraper]}
    )
    query(kubectl, namespace, client, engine, "shop", "INSERT INTO notes VALUES (1, 'on the primary')")
    wait_every_replica_has(kubectl, namespace, client, engine, "1\ton the primary\n", replicas=3)
    on_the_replicas = wait_for(
        "the row through shop-ro", lambda: rows_or_none(kubectl, namespace, client, engine, "shop-ro")
    )
    assert on_the_replicas == "1\ton the primary\n"
    with pytest.raises(AssertionError, match="read-only"):
        query(kubectl, namespace, client, engine, "shop-ro", "INSERT INTO notes VALUES (2, 'not on a replica')")

    # The exporters answer and report the server up, and a replica's its lag in the form the status reads
    # (mysqld_exporter 0.14 by itself, postgres_exporter 0.11 by the overlay's query); the operator, on the host
    # (admitted by the policy as DBOP_OPERATOR_CIDRS), reads the replicas' and shows them in status.instances[]
    # (the primary has no lag).
    port, up = EXPORTER_UP[engine]
    for pod in ["shop-0", "shop-1"]:
        metrics = exporter_metrics(kubectl, namespace, client, pod, port)
        assert up in metrics.splitlines()
    wait_for("a lag from shop-1's exporter", lambda: replication_lag(exporter_metrics(
        kubectl, namespace, client, "shop-1", port)) is not None)  # fmt: skip
    lags = wait_for("the replicas' lag in the status", lambda: replica_lags(kubectl, namespace, "shop"), timeout=120)
    assert sorted(lags) == ["shop-1", "shop-2"] and all(lag >= 0 for lag in lags.values()), lags

    # Down to the primary alone, a row written meanwhile, back to three: shop-1 resumes on its old volume,
    # shop-2 (its volume deleted) copies the primary anew; both catch up.
    kubectl.run("scale", "database", "shop", "-n", namespace, "--replicas=1")
    wait_for("the replicas to go", lambda: kubectl.get("pod", "shop-1", namespace) is None
             and kubectl.get("pod", "shop-2", namespace) is None, timeout=120)  # fmt: skip
    kubectl.run("delete", "pvc", "data-shop-2", "-n", namespace, "--wait=true", "--timeout=60s")
    query(kubectl, namespace, client, engine, "shop", "INSERT INTO notes VALUES (2, 'while alone')")
    kubectl.run("scale", "database", "shop", "-n", namespace, "--replicas=3")
    db = wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)
    assert db["status"]["replicas"] == 3
    both = "1\ton the primary\n2\twhile alone\n"
    wait_every_replica_has(kubectl, namespace, client, engine, both, replicas=3)
    assert rows_or_none(kubectl, namespace, client, engine, "shop-ro") == both


def wait_every_replica_has(
    kubectl: Kubectl, namespace: str, client: str, engine: str, rows: str, replicas: int
) -> None:
    """Until each replica, asked by its own name, has `rows` in `notes` (replication is asynchronous)."""
    for host in [f"shop-{index}.shop-headless" for index in range(1, replicas)]:
        wait_for(
            f"{rows!r} on {host}", lambda host=host: rows_or_none(kubectl, namespace, client, engine, host) == rows
        )


def replica_lags(kubectl: Kubectl, namespace: str, name: str) -> dict[str, float] | None:
    """The lagSeconds of every replica in the Database's status.instances[]; None until each replica has one."""
    status = (kubectl.get("database", name, namespace) or {}).get("status", {})
    replicas = [entry for entry in status.get("instances", []) if entry.get("role") == REPLICA_ROLE]
    lags = {entry["pod"]: entry["lagSeconds"] for entry in replicas if "lagSeconds" in entry}
    return lags if replicas and len(lags) == len(replicas) else None


def exporter_metrics(kubectl: Kubectl, namespace: str, client: str, pod: str, port: int) -> str:
    address = kubectl.get("pod", pod, namespace)["status"]["podIP"]  # type: ignore[index]
    return kubectl.run("exec", "-n", namespace, client, "--", "curl", "-sf", f"http://{address}:{port}/metrics").stdout


def _on_backup_volume(kubectl: Kubectl, namespace: str, claim: str, script: str) -> str:
    """Run `script` in a pod that mounts the backup volume at /backups (where the artifact paths point); its output."""
    name = f"volume-{uuid.uuid4().hex[:6]}"
    backup_user = {"runAsUser": 999, "runAsGroup": 999}  # the backup Job's, which owns the dumps
    runner = pod_manifest(name, CLIENT_IMAGE, ["sh", "-c", script], restartPolicy="Never", securityContext=backup_user)
    kubectl.apply(with_claim(runner, claim, "/backups"), "-n", namespace)
    wait_for(
        f"pod {name} to finish",
        lambda: (kubectl.get("pod", name, namespace) or {}).get("status", {}).get("phase") == "Succeeded",
        timeout=110,
    )
    output = kubectl.run("logs", "-n", namespace, name).stdout
    kubectl.run("delete", "pod", name, "-n", namespace, "--wait=true")
    return output


def backed_up(kubectl: Kubectl, namespace: str, database_name: str, backup: str) -> dict[str, Any]:
    """A DatabaseBackup `backup` of the Database, once it succeeded (failing at once if it failed)."""
    kubectl.apply(
        {
            "apiVersion": "database.example.com/v1",
            "kind": "DatabaseBackup",
            "metadata": {"name": backup, "namespace": namespace},
            "spec": {"database": database_name},
        }
    )
    return wait_for(
        "the DatabaseBackup to succeed",
        lambda: _phase(kubectl.get("databasebackup", backup, namespace), "Succeeded"),
        timeout=180,
    )


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_backup_restores_and_a_corrupt_one_never_becomes_ready(kubectl: Kubectl, namespace: str, engine: str) -> None:
    every_minute = {"enabled": True, "schedule": "* * * * *"}
    source_client = serving(kubectl, namespace, engine, "source", backup=every_minute)
    query(kubectl, namespace, source_client, engine, "source", "INSERT INTO notes VALUES (1, 'backed up')")
    backup = backed_up(kubectl, namespace, "source", "nightly")
    artifact = backup["status"]["artifact"]
    listed = _on_backup_volume(kubectl, namespace, "source-backup", f"wc -c < {artifact}")
    assert int(listed.strip()) == backup["status"]["sizeBytes"]  # what the script really wrote

    kubectl.apply(database("copy", namespace, engine, restore={"backup": "nightly"}))
    copy = wait_ready(kubectl, "copy", namespace, timeout=READY_TIMEOUT)
    assert copy["status"]["restoredFrom"]
    copy_client = client_pod(kubectl, namespace, "copy")
    # Ready only once loaded and no pod mounts the source's backup volume any more (its pods restarted without it);
    # the rows are there, through the Service once it routes to the re-made pod.
    assert not mounts(kubectl, "copy", namespace, "restore")
    rows = wait_for(
        "the restored rows through the Service",
        lambda: rows_or_none(kubectl, namespace, copy_client, engine, "copy"),
    )
    assert rows == "1\tbacked up\n"

    # Keep the first half only: what a backup volume may hold after a disk fault.
    _on_backup_volume(kubectl, namespace, "source-backup", f"truncate -s $(($(wc -c < {artifact}) / 2)) {artifact}")
    kubectl.apply(database("broken", namespace, engine, restore={"backup": "nightly"}))

    def failed_and_ran_again() -> dict[str, Any] | None:
        pod = kubectl.get("pod", "broken-0", namespace)
        statuses = ((pod or {}).get("status") or {}).get("initContainerStatuses") or []
        bootstrap = next((status for status in statuses if status["name"] == "bootstrap"), None)
        return pod if bootstrap is not None and bootstrap.get("restartCount", 0) >= 1 else None

    pod = wait_for("the bootstrap to fail and run again", failed_and_ran_again, timeout=READY_TIMEOUT)
    assert not any(status.get("ready") for status in pod["status"].get("containerStatuses", []))
    assert all(not status.get("started") for status in pod["status"].get("containerStatuses", [])), (
        "the server must never start on a directory the bootstrap did not complete"
    )
    broken = wait_for(
        "the status to say why",
        lambda: _with_bootstrap_failure(kubectl.get("database", "broken", namespace)),
        timeout=60,
    )
    assert broken["status"].get("phase") != "Ready"
    assert broken["status"]["instances"][0]["bootstrapFailure"].startswith("bootstrap failed while restoring")

    # Meanwhile the schedule ran: its dump is on the backup volume, and lastBackup is the newest successful
    # backup Job's completion time as the Job says it.
    scheduled = wait_for("a scheduled backup Job to complete", lambda: completed_jobs(kubectl, namespace, "CronJob"))
    artifact, size = job_result(kubectl, namespace, scheduled[-1]["metadata"]["name"])
    assert artifact.startswith("/backups/scheduled-")
    assert int(_on_backup_volume(kubectl, namespace, "source-backup", f"wc -c < {artifact}").strip()) == size

    def last_backup_is_the_newest_job() -> bool:
        newest = completed_jobs(kubectl, namespace)[-1]["status"]["completionTime"]
        return (kubectl.get("database", "source", namespace) or {}).get("status", {}).get("lastBackup") == newest

    wait_for("lastBackup to be the newest Job's completion", last_backup_is_the_newest_job, timeout=60)


def completed_jobs(kubectl: Kubectl, namespace: str, owner: str | None = None) -> list[dict[str, Any]]:
    """The Database `source`'s completed backup Jobs (only the CronJob's with `owner="CronJob"`), oldest first."""
    listed = kubectl.run("get", "jobs", "-n", namespace, "-l", "app.kubernetes.io/instance=source", "-o", "json")
    jobs = [
        job
        for job in json.loads(listed.stdout)["items"]
        if (job.get("status") or {}).get("completionTime")
        and (owner is None or any(ref["kind"] == owner for ref in job["metadata"].get("ownerReferences", [])))
    ]
    return sorted(jobs, key=lambda job: job["status"]["completionTime"])


def job_result(kubectl: Kubectl, namespace: str, job: str) -> tuple[str, int]:
    """The artifact and size a backup Job's script reported in its termination message."""
    listed = kubectl.run("get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "json")
    [pod] = [pod for pod in json.loads(listed.stdout)["items"] if pod["status"].get("phase") == "Succeeded"]
    result = json.loads(pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"])
    return result["artifact"], result["size"]


def _with_bootstrap_failure(db: dict[str, Any] | None) -> dict[str, Any] | None:
    instances = ((db or {}).get("status") or {}).get("instances") or []
    return db if instances and instances[0].get("bootstrapFailure") else None


def _phase(backup: dict[str, Any] | None, phase: str) -> dict[str, Any] | None:
    status = (backup or {}).get("status") or {}
    if status.get("phase") == "Failed":
        raise AssertionError(f"the backup failed: {status}")
    return backup if status.get("phase") == phase else None

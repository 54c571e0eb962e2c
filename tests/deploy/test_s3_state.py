"""The in-cluster operator with its Pulumi state in an S3-compatible bucket (scripts/deploy --state s3): a real
SeaweedFS server runs as a pod on the real node (toolchain/seaweedfs-image.sh, s3-server.yaml), the operator has
no claim, and a Database's stack survives deleting the operator's Deployment with its pods and their disks.
Runs after test_in_cluster.py, whose operator is gone by then (one leader per cluster)."""

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from database_operator.processes import OPERATION_ENV, tagged_processes
from tests.deploy.deployed import OPERATOR_NAMESPACE, SELECTOR
from tests.deploy.test_in_cluster import (
    DEPLOY_ARGS,
    _deploy,
    _exec,
    databases_namespace,
    operator_pods,
)
from tests.e2e.cluster import REPO, Kubectl, wait_for
from tests.e2e.databases import assert_stack_continued, database, secrets_of, uid, wait_ready
from tests.e2e.s3_server import ACCESS_KEY, IDENTITIES, REGION, SECRET_KEY, bucket_commands, bucket_created

S3_NAMESPACE = "s3-test"
BUCKET = "dbop-state"
BACKEND_URL = f"s3://{BUCKET}?endpoint=http://seaweedfs.{S3_NAMESPACE}.svc:8333&s3ForcePathStyle=true&region={REGION}"
S3_DEPLOY_ARGS = (*DEPLOY_ARGS, "--state", "s3")
IMAGE_SCRIPT = str(REPO / "toolchain" / "seaweedfs-image.sh")


def _weed_shell(kubectl: Kubectl, commands: str) -> str:
    shell = kubectl.run(
        "exec", "-i", "-n", S3_NAMESPACE, "deployment/seaweedfs", "--",
        "weed", "shell", "-master=127.0.0.1:9333", "-filer=127.0.0.1:8888",
        stdin=commands + "\n", check=False,
    )  # fmt: skip
    return shell.stdout


@pytest.fixture(scope="module")
def s3_server(cluster_env: dict[str, str]) -> Iterator[Kubectl]:
    """SeaweedFS on the real node with its versioned state bucket; gone with its namespace afterwards."""
    kubectl = Kubectl(cluster_env)
    subprocess.run([IMAGE_SCRIPT], env=cluster_env, check=True)
    image_dir = subprocess.check_output([IMAGE_SCRIPT, "--print-dir"], env=cluster_env, text=True).strip()
    subprocess.run([str(REPO / "toolchain" / "cluster.sh"), "import-images", image_dir], env=cluster_env, check=True)
    image = subprocess.check_output([IMAGE_SCRIPT, "--print-ref"], env=cluster_env, text=True).strip()
    for manifest in yaml.safe_load_all((REPO / "tests" / "deploy" / "s3-server.yaml").read_text()):
        if manifest["kind"] == "Deployment":
            manifest["spec"]["template"]["spec"]["containers"][0]["image"] = image
        kubectl.apply(manifest)
        if manifest["kind"] == "Namespace":
            metadata = {"name": "seaweedfs-identities", "namespace": S3_NAMESPACE}
            kubectl.apply(
                {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "stringData": {"s3.json": IDENTITIES}}
            )
    kubectl.run("rollout", "status", "-n", S3_NAMESPACE, "deployment/seaweedfs", "--timeout=180s")
    wait_for(
        "the S3 server's versioned bucket",
        lambda: bucket_created(_weed_shell(kubectl, bucket_commands(BUCKET)), BUCKET),
        timeout=120,
        interval=3,
    )
    yield kubectl
    kubectl.run("delete", "namespace", S3_NAMESPACE, "--wait=false")


@pytest.fixture(scope="module")
def s3_operator(s3_server: Kubectl, cluster_env: dict[str, str]) -> Iterator[Kubectl]:
    """The operator deployed with --state s3 and the bucket's Secret; removed afterwards with its namespace."""
    kubectl = s3_server
    kubectl.run("apply", "-f", str(REPO / "deploy" / "namespace.yaml"))
    credentials = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "database-operator-s3", "namespace": OPERATOR_NAMESPACE},
        "stringData": {"PULUMI_BACKEND_URL": BACKEND_URL, **credentials},
    }
    kubectl.apply(secret)
    _deploy(cluster_env, *S3_DEPLOY_ARGS)
    yield kubectl
    _deploy(cluster_env, "delete")
    kubectl.run("delete", "namespace", OPERATOR_NAMESPACE, "--timeout=120s")


@pytest.fixture(scope="module")
def namespace(s3_operator: Kubectl) -> Iterator[str]:
    yield from databases_namespace(s3_operator)


def stack_history(kubectl: Kubectl, stack: str) -> list[dict[str, Any]]:
    """The stack's updates as the bucket records them (newest first), read by the plain Pulumi CLI in an operator
    pod (its backend URL, credentials and passphrase)."""
    pod = operator_pods(kubectl)[0]["metadata"]["name"]
    command = f"cd /app/program && pulumi stack history --stack {stack} --json --non-interactive"
    listed = _exec(kubectl, pod, "sh", "-c", command)
    assert listed.returncode == 0, listed.stderr
    history: list[dict[str, Any]] = json.loads(listed.stdout)
    return history


def all_operator_pods_gone(kubectl: Kubectl) -> bool:
    listed = kubectl.run("get", "pods", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR, "-o", "name")
    return not listed.stdout.strip()


def pulumi_up_running(stack: str) -> bool:
    """Whether a Pulumi CLI runs `up` on this stack (an operator pod's process, seen from this machine)."""
    for process in tagged_processes():
        if Path(process.command).name == "pulumi" and process.tags.get(OPERATION_ENV, "").startswith(f"{stack}/"):
            with contextlib.suppress(OSError):
                if "up" in Path(f"/proc/{process.pid}/cmdline").read_bytes().decode().split("\0"):
                    return True
    return False


def delete_operator(kubectl: Kubectl, cluster_env: dict[str, str]) -> float:
    """Delete the operator's Deployment, so its pods and their emptyDir workspaces; how long until no pod is left."""
    started = time.monotonic()
    _deploy(cluster_env, "delete")
    wait_for("the operator's pods to be gone", lambda: all_operator_pods_gone(kubectl), timeout=120)
    return time.monotonic() - started


def deploy_operator(cluster_env: dict[str, str]) -> float:
    started = time.monotonic()
    _deploy(cluster_env, *S3_DEPLOY_ARGS)
    return time.monotonic() - started


def test_a_database_survives_deleting_the_operator_with_its_pods_and_disks(
    s3_operator: Kubectl, namespace: str, cluster_env: dict[str, str]
) -> None:
    kubectl = s3_operator
    assert kubectl.get("pvc", "database-operator-state", OPERATOR_NAMESPACE) is None  # no claim in this mode
    stack = f"{namespace}.kept"
    kubectl.apply(database("kept", namespace))
    wait_ready(kubectl, "kept", namespace)
    secrets = secrets_of(kubectl, "kept", namespace)
    statefulset = uid(kubectl, "statefulset", "kept", namespace)
    updates = [entry["version"] for entry in stack_history(kubectl, stack)]
    assert updates, "the stack's first update is in the bucket"

    deletion, deployment = delete_operator(kubectl, cluster_env), deploy_operator(cluster_env)
    deployed = time.monotonic()
    kubectl.apply(database("kept", namespace, replicas=2))  # through the new pods' webhooks
    db = wait_ready(kubectl, "kept", namespace, timeout=180)
    print(
        f"operator deleted in {deletion:.1f}s, deployed again in {deployment:.1f}s, "
        f"the change applied {time.monotonic() - deployed:.1f}s later"
    )

    assert kubectl.get("statefulset", "kept", namespace)["spec"]["replicas"] == 2
    assert uid(kubectl, "statefulset", "kept", namespace) == statefulset  # updated in place
    assert db["status"]["lastOperation"]["kind"] == "up"
    assert db["status"]["lastOperation"]["created"] == 0
    assert secrets_of(kubectl, "kept", namespace) == secrets
    assert_stack_continued(updates, stack_history(kubectl, stack))  # found in the bucket, not made anew

    # Deleted in the middle of an update: the operator's shutdown SIGTERMs its Pulumi CLI, which cancels and
    # releases the stack's lock in the bucket. A lock left behind would hold the next operator back for
    # DBOP_OPERATION_TIMEOUT plus a minute (16 min), far beyond the wait below.
    kubectl.apply(database("kept", namespace, replicas=3))
    wait_for("the change's update to run", lambda: pulumi_up_running(stack), timeout=60, interval=0.1)
    deletion = delete_operator(kubectl, cluster_env)
    db = kubectl.get("database", "kept", namespace) or {}
    cut_short = db["status"]["observedGeneration"] != db["metadata"]["generation"]
    deployment = deploy_operator(cluster_env)
    deployed = time.monotonic()
    wait_ready(kubectl, "kept", namespace, timeout=180)
    print(
        f"deleted during an update ({'cut short' if cut_short else 'it ended first'}) in {deletion:.1f}s, "
        f"deployed again in {deployment:.1f}s, the change applied {time.monotonic() - deployed:.1f}s later"
    )
    assert kubectl.get("statefulset", "kept", namespace)["spec"]["replicas"] == 3
    logs = kubectl.run("logs", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR, "--tail=-1").stdout
    assert "releasing the lock of a dead operation" not in logs

"""The operator's Pulumi state in an S3-compatible backend, a real SeaweedFS server on loopback
(tests/e2e/s3_server.py): a Database survives the loss of the operator's whole disk, and a backend that cannot be
used is refused at start-up, naming the setting."""

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from database_api.names import PASSWORD_KEYS
from database_operator.passwords import config_key
from database_operator.state_backend import BackendUnusable, check_backend
from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, toolchain_bin
from tests.e2e.conftest import running_operator
from tests.e2e.databases import assert_stack_continued, database, secrets_of, uid, wait_ready
from tests.e2e.s3_server import SeaweedS3, stopped_endpoint


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("s3-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_operator(
    cluster_env: dict[str, str],
    kubectl: Kubectl,
    operator: OperatorProcess,
    s3: SeaweedS3,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with its state in the S3 bucket, serving the e2e namespaces. Everything it keeps on its own
    disk is under DBOP_STATE_DIR (its PULUMI_HOME too). Only one operator leads a cluster (leadership.py), so the
    session's operator steps aside meanwhile."""
    home = tmp_path_factory.mktemp("s3-operator")
    disk = home / "disk"
    operator.stop()
    process = running_operator(
        cluster_env,
        home,
        "e2e-*",
        PULUMI_BACKEND_URL=s3.backend_url(),
        DBOP_STATE_DIR=str(disk),
        PULUMI_HOME=str(disk / "pulumi-home"),
        **s3.credentials,
    )
    yield process
    process.stop()
    print(f"S3 operator log: {process.log_path}")
    assert process.tracebacks() == [], f"see {process.log_path}"
    assert "unexpected end of JSON input" not in process.log_path.read_text(errors="replace"), (
        "an empty lock directory was listed: see tests/e2e/s3_server.py"
    )
    operator.start()


def stack_history(operator: OperatorProcess, stack: str) -> list[dict[str, Any]]:
    """The stack's updates as the backend records them (newest first), read with the plain Pulumi CLI."""
    listed = subprocess.run(
        ["pulumi", "stack", "history", "--stack", stack, "--json", "--non-interactive"],
        cwd=REPO / "program",
        env=operator.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    history: list[dict[str, Any]] = json.loads(listed.stdout)
    return history


def passwords_in(settings_file: Path) -> tuple[str, dict[str, Any]]:
    """A stack settings file's salt and encrypted passwords, as written."""
    settings = yaml.safe_load(settings_file.read_text())
    return settings["encryptionsalt"], {key: settings["config"][config_key(key)] for key in PASSWORD_KEYS}


def test_a_database_survives_losing_the_operators_whole_disk(
    kubectl: Kubectl, namespace: str, s3_operator: OperatorProcess
) -> None:
    disk = Path(s3_operator.env["DBOP_STATE_DIR"])
    stack = f"{namespace}.kept"
    kubectl.apply(database("kept", namespace))
    wait_ready(kubectl, "kept", namespace)
    secrets = secrets_of(kubectl, "kept", namespace)
    statefulset = uid(kubectl, "statefulset", "kept", namespace)
    settings_file = disk / "workspaces" / stack / f"Pulumi.{stack}.yaml"
    salt, passwords = passwords_in(settings_file)
    updates = [entry["version"] for entry in stack_history(s3_operator, stack)]
    assert updates, "the stack's first update is in the bucket"
    assert not (disk / "backend").exists()  # no state on the disk but the workspace

    s3_operator.stop()
    shutil.rmtree(disk)  # the workspaces, the instance records, the webhook CA, PULUMI_HOME: all of it
    s3_operator.start()
    kubectl.apply(database("kept", namespace, replicas=2))  # through the new operator's webhooks
    db = wait_ready(kubectl, "kept", namespace, timeout=180)

    assert kubectl.get("statefulset", "kept", namespace)["spec"]["replicas"] == 2
    assert uid(kubectl, "statefulset", "kept", namespace) == statefulset  # updated in place
    assert db["status"]["lastOperation"]["kind"] == "up"
    assert db["status"]["lastOperation"]["created"] == 0
    assert secrets_of(kubectl, "kept", namespace) == secrets
    # The very ciphertexts and salt of the first operator's settings: restored from the bucket, not made anew.
    assert passwords_in(settings_file) == (salt, passwords)
    assert_stack_continued(updates, stack_history(s3_operator, stack))


def check(s3: SeaweedS3, home: Path, url: str, **credentials: str) -> None:
    """The start-up check of this backend URL, with the toolchain's CLI and the server's credentials."""
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PULUMI_HOME": str(home), **s3.credentials}
    check_backend(str(toolchain_bin() / "pulumi"), url, {**environment, **credentials, "PULUMI_BACKEND_URL": url})


def test_the_backend_check_passes_on_a_usable_bucket(s3: SeaweedS3, tmp_path: Path) -> None:
    check(s3, tmp_path, s3.backend_url())


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unreachable endpoint", "connection refused"),
        ("missing bucket", "NoSuchBucket"),
        ("wrong secret key", "SignatureDoesNotMatch"),
    ],
)
def test_a_backend_that_cannot_be_used_is_refused_naming_the_setting(
    s3: SeaweedS3, tmp_path: Path, case: str, reason: str
) -> None:
    url = {
        "unreachable endpoint": s3.backend_url(endpoint=stopped_endpoint()),
        "missing bucket": s3.backend_url(bucket="no-such-bucket"),
        "wrong secret key": s3.backend_url(),
    }[case]
    wrong_key = {"AWS_SECRET_ACCESS_KEY": "wrong"} if case == "wrong secret key" else {}
    with pytest.raises(BackendUnusable) as refused:
        check(s3, tmp_path, url, **wrong_key)
    assert str(refused.value).startswith(f"PULUMI_BACKEND_URL: {url} cannot be used: ")
    assert reason in str(refused.value)


def test_preview_refuses_a_backend_it_cannot_use_naming_the_setting(
    s3: SeaweedS3, operator: OperatorProcess, tmp_path: Path
) -> None:
    url = s3.backend_url(bucket="no-such-bucket")
    preview = subprocess.run(
        ["database-operator", "preview", "-f", "-"],
        input=json.dumps(database("any", "e2e-none")),
        env={**operator.env, "PULUMI_BACKEND_URL": url, "DBOP_STATE_DIR": str(tmp_path), **s3.credentials},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert preview.returncode == 1
    assert f"error: PULUMI_BACKEND_URL: {url} cannot be used: " in preview.stderr
    assert "NoSuchBucket" in preview.stderr

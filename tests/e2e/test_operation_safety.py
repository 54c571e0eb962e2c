"""Operations safe under a second operator, refused input, and a rolling StatefulSet (issue 17)."""

import re
import socket
import time
from datetime import datetime
from pathlib import Path

from tests.e2e.cluster import Kubectl, OperatorProcess, pulumi_processes_of, wait_for
from tests.e2e.databases import Volumes, database, preview, wait_ready

PEERING_LIFETIME = 15
"""DBOP_PEERING_LIFETIME's default: a standby takes over at most this long after the leader died."""


def test_numbers_too_large_are_refused_naming_the_field(kubectl: Kubectl, namespace: str) -> None:
    huge = kubectl.apply(database("huge", namespace, storage={"size": "1e1000000"}), check=False)
    assert huge.returncode != 0
    assert "spec.storage.size" in huge.stderr and "Overflow" not in huge.stderr, huge.stderr
    forever = kubectl.apply(
        database("forever", namespace, backup={"enabled": True, "retention": "1000000000d"}), check=False
    )
    assert "spec.backup.retention: '1000000000d' is too long" in forever.stderr, forever.stderr


def test_cron_schedules_kubernetes_refuses_or_that_never_run_are_refused(kubectl: Kubectl, namespace: str) -> None:
    for schedule, reason in (("5/ * * * *", "minute: step ''"), ("0 0 31 2 *", "never runs")):
        refused = kubectl.apply(
            database("cron", namespace, backup={"enabled": True, "schedule": schedule}), check=False
        )
        assert f"spec.backup.schedule: {reason}" in refused.stderr or (
            "spec.backup.schedule" in refused.stderr and reason in refused.stderr
        ), refused.stderr


def test_a_wrong_type_is_refused_by_the_schema_not_converted(kubectl: Kubectl, namespace: str) -> None:
    refused = kubectl.apply(database("typed", namespace, replicas="3"), check=False)
    assert refused.returncode != 0
    assert "spec.replicas" in refused.stderr, refused.stderr
    assert kubectl.get("database", "typed", namespace) is None


def test_production_with_one_replica_is_refused_naming_replicas(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(database("prod", namespace, replicas=3))
    refused = kubectl.apply(database("prod", namespace, environment="production", replicas=1), check=False)
    assert refused.returncode != 0
    assert "spec.replicas" in refused.stderr and "production requires at least 2 replicas" in refused.stderr
    stored = kubectl.get("database", "prod", namespace)
    assert stored is not None and stored["spec"]["replicas"] == 3 and stored["spec"]["environment"] == "development"


def test_rolling_replicas_while_pod_events_arrive_leaves_the_watcher_alive(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    monitored = {"monitoring": {"enabled": True, "metrics": True}}
    kubectl.apply(database("roll", namespace, replicas=3, **monitored))
    wait_ready(kubectl, "roll", namespace)
    log_start = len(operator.log_path.read_text(errors="replace"))
    for replicas in (1, 3, 2, 3):
        kubectl.apply(database("roll", namespace, replicas=replicas, **monitored))
        time.sleep(1)
    db = wait_ready(kubectl, "roll", namespace)
    assert len(db["status"]["instances"]) == 3
    log = operator.log_path.read_text(errors="replace")[log_start:]
    assert "Daemon 'watcher' failed" not in log and "dictionary changed size" not in log


def _seconds(log: Path, pattern: str) -> list[float]:
    """The times (epoch seconds) of the log lines matching pattern."""
    times = []
    for line in log.read_text(errors="replace").splitlines():
        if re.search(pattern, line):
            times.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return times


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_operators_one_leader_and_a_handover_when_it_dies(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, state_dir: Path
) -> None:
    """Two operator processes on one cluster and one state backend: only the leader reconciles; when it is
    killed, the standby takes over within DBOP_PEERING_LIFETIME, and no stack ever sees two operations."""
    operator.stop()  # the session's operator would lead both
    leader = OperatorProcess(env=operator.env, log_path=state_dir / "leader.log", port=_free_port())
    standby_env = {**operator.env, "DBOP_WEBHOOKS": "off"}  # one webhook server per URL; the leader's
    standby = OperatorProcess(env=standby_env, log_path=state_dir / "standby.log", port=_free_port())
    try:
        leader.start()
        time.sleep(1)  # started later: lower priority
        standby.start()
        kubectl.apply(database("first", namespace))
        wait_ready(kubectl, "first", namespace)
        assert _seconds(leader.log_path, r"stack .*\.first: up finished")
        assert not _seconds(standby.log_path, r"up finished|Handler '.*' succeeded")  # paused: did nothing

        leader.kill()
        killed_at = time.time()
        # What a Service in front of both replicas would give: admission by a live replica (here: none).
        kubectl.run("delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "database.example.com")
        kubectl.apply(database("second", namespace))
        wait_ready(kubectl, "second", namespace, timeout=PEERING_LIFETIME + 120)
        [resumed_at, *_] = _seconds(standby.log_path, "Resuming operations")
        assert 0 <= resumed_at - killed_at <= PEERING_LIFETIME + 5  # paused until then, resumed in time
        assert _seconds(standby.log_path, r"stack .*\.second: up finished")
    finally:
        standby.stop()
        leader.kill()
        operator.start()  # back to one operator, which registers its webhooks again and ends the orphans
    for log in (leader.log_path, standby.log_path):
        text = log.read_text(errors="replace")
        assert "another operation holds the stack's lock" not in text
        assert "Traceback" not in text, f"see {log}"
    wait_for("the killed leader's Pulumi processes to be ended", lambda: not pulumi_processes_of(leader.pids))
    assert pulumi_processes_of(standby.pids) == []


def test_a_failed_preview_prints_one_clear_message(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, volumes: Volumes
) -> None:
    """A change that cannot be made fails the preview: the command says so in one line, without the program
    server's tracebacks. (A bigger volume template once failed inside Pulumi's preview; since issue 16 the
    growth of a class that cannot expand is refused before any preview, naming the field and the class.)"""
    fixed = volumes.storage_class(expandable=False)
    kubectl.apply(database("grow", namespace, storage={"size": "1Gi", "class": fixed}))
    wait_ready(kubectl, "grow", namespace)
    proposed = database("grow", namespace, storage={"size": "2Gi", "class": fixed})
    result = preview(operator, proposed)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "grpc" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Database {namespace}/grow: spec.storage.size: cannot grow from 1Gi to 2Gi: StorageClass")

"""`python -m benchmark`: the real operator on a local cluster of its own, against the physical floor.

For 1, 10 and 50 Databases applied at once: latency from `kubectl apply` to the StatefulSet and to status
Ready; then a one-field change (replicas) to the StatefulSet updated; operator CPU (children included) and
peak memory; the CPU cost per hour of the 50 idle, in-sync Databases, drift checks included. The floor, in
the same run: server-side apply (kubectl) of the very manifests the operator produced, into a fresh namespace.
Then, on a real node (the same cluster started again with one), apply -> first successful query for each engine
against the same server started bare, and the failover time: the primary's server killed -> writes through
`<name>` again (real_pods.py). Prints tables, writes JSON and a PNG chart.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from benchmark import noise
from benchmark.process import Received, Usage, control_plane_cpu_seconds, cpu, cpu_seconds, rss_bytes
from benchmark.real_pods import VERSIONS, failover_times, first_queries
from benchmark.report import (
    Failover,
    FirstQuery,
    Result,
    write_chart,
    write_failover_table,
    write_first_query_table,
    write_table,
)
from benchmark.watch import (
    DATABASE_FIELDS,
    STATEFULSET_FIELDS,
    created,
    database_ready,
    statefulset_ready,
    statefulset_scaled_to,
    watching,
)
from database_operator.settings import OperatorSettings
from tests.e2e.cluster import REPO, Kubectl, OperatorProcess, toolchain_bin, wait_for
from tests.e2e.ha import synchronous_stacks_config

CLUSTER = str(REPO / "toolchain" / "cluster.sh")
# A cluster of its own (state and ports), so the benchmark never meets the demo's or the tests' objects; the
# DBOP_* variables of the environment win (another cluster of one's own, e.g. beside the benchmark's).
CLUSTER_ENV = {
    "DBOP_CLUSTER_DIR": str(Path(os.environ.get("DBOP_CACHE", Path.home() / ".cache" / "dbop")) / "bench-cluster"),
    "DBOP_ETCD_PORT": "24790",
    "DBOP_ETCD_PEER_PORT": "24800",
    "DBOP_APISERVER_PORT": "27443",
    "DBOP_CONTROLLER_MANAGER_PORT": "21257",
    "DBOP_SCHEDULER_PORT": "21259",
    "DBOP_KWOK_NODE_PORT": "11250",
    # kwok's fake nodes only: 50 Databases measure the operator, not containers starting on 2 cores
    "DBOP_NODE": "kwok",
}


def cluster_env(**overrides: str) -> dict[str, str]:
    """The benchmark's cluster: its own settings, unless the environment sets them (to point it at another
    cluster), with `overrides` on top."""
    chosen = {name: os.environ.get(name, value) for name, value in CLUSTER_ENV.items()}
    return {**os.environ, **chosen, **overrides}


def database(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "database.example.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}},
    }


def items(kubectl: Kubectl, kinds: str, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(kubectl.run("get", kinds, "-n", namespace, "-o", "json").stdout)["items"]
    return found


def rendered_manifests(kubectl: Kubectl, namespace: str, target: str) -> list[dict[str, Any]]:
    """The objects the operator's stacks created, as plain manifests for another namespace."""
    manifests = []
    for item in items(kubectl, "secrets,configmaps,services,statefulsets", namespace):
        if item["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") != "database-operator":
            continue
        metadata = item["metadata"]
        spec = item.get("spec") or {}
        if item["kind"] == "Service" and spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for template in spec.get("volumeClaimTemplates", []):
            template.pop("status", None)
        manifest = {
            "apiVersion": item["apiVersion"],
            "kind": item["kind"],
            "metadata": {"name": metadata["name"], "namespace": target, "labels": metadata.get("labels", {})},
        }
        manifest.update({key: value for key, value in item.items() if key in ("spec", "data", "type")})
        manifests.append(manifest)
    return manifests


def warm_up(kubectl: Kubectl, manifests: dict[str, Any], *options: str) -> None:
    """The same apply as a server-side dry run, changing nothing: a fresh API server's first request for a kind
    (its OpenAPI schema, the first connection to the admission webhooks) took about a second, counted against
    whichever round came first."""
    kubectl.run("apply", *options, "--dry-run=server", "-f", "-", stdin=json.dumps(manifests))


def run_size(
    kubectl: Kubectl, operator: OperatorProcess, usage: Usage, count: int, namespace: str, floor: str
) -> Result:
    names = [f"db-{index:02d}" for index in range(count)]
    manifests = {"apiVersion": "v1", "kind": "List", "items": [database(name, namespace) for name in names]}
    timeout = 120 + 10 * count
    assert operator.process is not None
    statefulsets, databases = watching(
        kubectl.env,
        [
            ("statefulsets", namespace, STATEFULSET_FIELDS, created),
            ("databases", namespace, DATABASE_FIELDS, database_ready),
        ],
    )
    warm_up(kubectl, manifests)
    cluster_dir = Path(kubectl.env["DBOP_CLUSTER_DIR"])
    cpu_before, cluster_before = cpu(operator.process.pid), control_plane_cpu_seconds(cluster_dir)
    started = time.monotonic()
    # Each create passes the operator's admission webhooks: 200 at once took longer than Kubectl.run waits.
    subprocess.run(
        ["kubectl", "apply", "-f", "-"], input=json.dumps(manifests), env=kubectl.env, text=True, check=True,
        capture_output=True, timeout=timeout,
    )  # fmt: skip
    created_at = statefulsets.wait("StatefulSets", names, started, timeout, usage)
    ready_at = databases.wait("Ready", names, started, timeout, usage)
    operator_cpu = cpu(operator.process.pid) - cpu_before
    cluster_cpu = control_plane_cpu_seconds(cluster_dir) - cluster_before

    floor_manifests = {"apiVersion": "v1", "kind": "List", "items": rendered_manifests(kubectl, namespace, floor)}
    floor_created, floor_ready = watching(
        kubectl.env,
        [
            ("statefulsets", floor, STATEFULSET_FIELDS, created),
            ("statefulsets", floor, STATEFULSET_FIELDS, statefulset_ready),
        ],
    )
    warm_up(kubectl, floor_manifests, "--server-side")
    floor_cluster_before = control_plane_cpu_seconds(cluster_dir)
    started = time.monotonic()
    kubectl.run("apply", "--server-side", "-f", "-", stdin=json.dumps(floor_manifests))
    floor_created_at = floor_created.wait("floor", names, started, timeout, usage)
    floor_ready_at = floor_ready.wait("floor ready", names, started, timeout, usage)
    floor_cluster_cpu = control_plane_cpu_seconds(cluster_dir) - floor_cluster_before
    for watch in (statefulsets, databases, floor_created, floor_ready):
        watch.close()
    return Result(
        count=count,
        statefulset=list(created_at.values()),
        ready=list(ready_at.values()),
        floor_statefulset=list(floor_created_at.values()),
        floor_ready=list(floor_ready_at.values()),
        cpu_seconds=operator_cpu.total,
        pulumi_cpu_seconds=operator_cpu.children,
        cluster_cpu_seconds=cluster_cpu,
        floor_cluster_cpu_seconds=floor_cluster_cpu,
        cores=os.cpu_count() or 1,
    )


def one_field_changes(kubectl: Kubectl, namespace: str, usage: Usage, floor: bool) -> list[float]:
    """Replicas 1 -> 2, one Database (or StatefulSet, for the floor) after the other, the first ten."""
    (scaled,) = watching(kubectl.env, [("statefulsets", namespace, STATEFULSET_FIELDS, statefulset_scaled_to(2))])
    latencies: list[float] = []
    for sts in items(kubectl, "statefulsets", namespace)[:10]:
        name = sts["metadata"]["name"]
        kind = "statefulset" if floor else "database"
        started = time.monotonic()
        kubectl.run("patch", kind, name, "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}')
        latencies += scaled.wait(f"{name} scaled", [name], started, 120, usage).values()
    scaled.close()
    return latencies


PULUMI_RUN = re.compile(r"stack \S+: [a-z ]+ finished")  # up, drift check, preview, destroy


def pulumi_runs(operator: OperatorProcess) -> int:
    return len(PULUMI_RUN.findall(operator.log_path.read_text(errors="replace")))


def idle_window(operator: OperatorProcess, seconds: float, usage: Usage, received: Received) -> dict[str, float]:
    """Over an idle window: the operator's CPU (finished children included), its Pulumi runs, the bytes it
    received from the API server (watch events, mostly), and its memory at the end."""
    assert operator.process is not None
    runs_before, cpu_before = pulumi_runs(operator), cpu_seconds(operator.process.pid)
    received.sample()
    bytes_before, deadline = received.total, time.monotonic() + seconds
    while time.monotonic() < deadline:
        usage.sample()
        received.sample()
        time.sleep(1)
    cpu = cpu_seconds(operator.process.pid) - cpu_before
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "cpu_seconds_per_hour": cpu / seconds * 3600,
        "pulumi_runs": pulumi_runs(operator) - runs_before,
        "received_mb": (received.total - bytes_before) / 2**20,
        "operator_rss_mb": rss_bytes(operator.process.pid) / 2**20,
    }


def settled(operator: OperatorProcess, usage: Usage, quiet_cpu: float = 1.0, most: float = 300) -> float:
    """Seconds until the operator's CPU over 10 s stays below `quiet_cpu` (its start-up and resumes done)."""
    assert operator.process is not None
    started = time.monotonic()
    while time.monotonic() - started < most:
        before = cpu_seconds(operator.process.pid)
        for _ in range(10):
            usage.sample()
            time.sleep(1)
        if cpu_seconds(operator.process.pid) - before < quiet_cpu:
            break
    return time.monotonic() - started


def idle_rounds(args: argparse.Namespace, kubectl: Kubectl, operator: OperatorProcess) -> dict[str, Any]:
    """The noise created, the operator restarted cluster-wide (the floor's namespaces gone, so it sees only the
    Databases' objects and the noise), one drift interval let pass (the first round of checks after a start
    comes then), then idle for a window each: quiet, and with the noise churning."""
    noise.create(kubectl, args.noise)
    operator.start()
    assert operator.process is not None
    started = time.monotonic()
    usage = Usage(operator.process.pid)
    received = Received(operator.process.pid, int(kubectl.env["DBOP_APISERVER_PORT"]))
    settle = settled(operator, usage)
    print(f"operator restarted cluster-wide, settled after {settle:.0f}s", flush=True)
    while time.monotonic() - started < args.drift_interval:
        usage.sample()
        time.sleep(1)
    quiet = idle_window(operator, args.idle_seconds, usage, received)
    print("idle, quiet: done", flush=True)
    churn = noise.Churn(kubectl, args.noise)
    noisy = idle_window(operator, args.idle_seconds, usage, received)
    noisy["noise_updates_per_second"] = churn.stop() / args.idle_seconds
    print("idle, noisy: done", flush=True)
    return {"settle_seconds": settle, "quiet": quiet, "noisy": noisy, "noise_objects": 2 * args.noise}


def served(kubectl: Kubectl, kind: str) -> bool:
    return kubectl.run("get", kind, "-A", check=False).returncode == 0


def started_cluster(env: dict[str, str]) -> Kubectl:
    """The benchmark's cluster started fresh, the CRDs served; kubectl for it."""
    subprocess.run([CLUSTER, "reset"], env=env, check=True, capture_output=True)
    subprocess.run([CLUSTER, "start"], env=env, check=True)
    kubeconfig = subprocess.check_output([CLUSTER, "kubeconfig"], env=env, text=True).strip()
    kubectl = Kubectl({**env, "PATH": f"{toolchain_bin()}:{env['PATH']}", "KUBECONFIG": kubeconfig})
    kubectl.run("apply", "--server-side", "-f", str(REPO / "crds" / "database.yaml"))
    for crd in ("databases", "databasebackups"):
        kubectl.run("wait", "--for=condition=Established", f"crd/{crd}.database.example.com", "--timeout=60s")
        # A fresh API server answers "storage is (re)initializing" for a new kind a little longer than that.
        wait_for(f"{crd} to be served", partial(served, kubectl, crd))
    return kubectl


def operator_process(kubectl: Kubectl, drift_interval: float, **env: str) -> OperatorProcess:
    state = Path(kubectl.env["DBOP_CLUSTER_DIR"]) / "operator-state"
    state.mkdir(parents=True, exist_ok=True)
    return OperatorProcess(
        env={
            **kubectl.env,
            "DBOP_STATE_DIR": str(state),
            "PULUMI_HOME": str(state / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": "benchmark",
            "DBOP_DRIFT_INTERVAL": str(drift_interval),
            "DBOP_WEBHOOK_PORT": "29443",
            "DBOP_NAMESPACES": "bench-*",
            **env,
        },
        log_path=state / "operator.log",
        port=28089,
    )


def stopped(operator: OperatorProcess, kubectl: Kubectl, log: Path) -> None:
    """The operator stopped, its log kept, the cluster's state (log included) removed."""
    operator.stop()
    log.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(operator.log_path, log)
    subprocess.run([CLUSTER, "reset"], env=kubectl.env, check=False, capture_output=True)


def kwok_rounds(args: argparse.Namespace, sizes: list[int]) -> tuple[list[Result], dict[str, Any]]:
    """The operator alone, on kwok's fake nodes: 1, 10, 50 Databases at once, a field change, idle CPU."""
    kubectl = started_cluster(cluster_env())
    operator = operator_process(kubectl, args.drift_interval)
    # Namespaces exist before the operator starts: one that appears in its first moments can be missed by its
    # namespace discovery (seen here: the first round's Database never handled).
    namespaces = {
        count: (f"bench-{count}-{uuid.uuid4().hex[:6]}", f"floor-{count}-{uuid.uuid4().hex[:6]}") for count in sizes
    }
    for pair in namespaces.values():
        for namespace in pair:
            kubectl.run("create", "namespace", namespace)
    operator.start()
    assert operator.process is not None
    usage = Usage(operator.process.pid)
    try:
        results = []
        for count in sizes:
            result = run_size(kubectl, operator, usage, count, *namespaces[count])
            results.append(result)
            print(f"{count} at once: done", flush=True)
        changed = next((result for result in results if result.count == 10), results[0])
        namespace, floor = namespaces[changed.count]
        changed.change = one_field_changes(kubectl, namespace, usage, floor=False)
        changed.floor_change = one_field_changes(kubectl, floor, usage, floor=True)
        for _, floor in namespaces.values():
            kubectl.run("delete", "namespace", floor, "--timeout=300s")
        operator.stop()
        operator = operator_process(kubectl, args.drift_interval, DBOP_NAMESPACES="")
        idle = idle_rounds(args, kubectl, operator)
    finally:
        stopped(operator, kubectl, args.out / "operator.log")
    databases = sum(result.count for result in results)
    summary = {
        "databases": databases,
        "operator_cpu_seconds": sum(result.cpu_seconds for result in results),
        "peak_operator_rss_mb": usage.peak_operator_bytes / 2**20,
        "peak_tree_rss_mb": usage.peak_tree_bytes / 2**20,
        "idle_databases": databases,
        "drift_interval_seconds": args.drift_interval,
        **idle,
    }
    return results, summary


def real_rounds(args: argparse.Namespace) -> tuple[list[FirstQuery], list[Failover]]:
    """Databases that really run, on the real node, with the locally built images: apply -> first query, then the
    failover time. Replication is synchronous, as in production (a lone primary is never synchronous)."""
    kubectl = started_cluster(cluster_env(DBOP_NODE="real"))
    overlay = Path(kubectl.env["DBOP_CLUSTER_DIR"]) / "stacks-config-sync"
    overlay.mkdir(parents=True, exist_ok=True)
    stacks_config = str(synchronous_stacks_config(overlay))
    operator = operator_process(kubectl, args.drift_interval, DATABASE_STACKS_CONFIG=stacks_config)
    operator.start()
    try:
        first = [first_queries(kubectl, engine, args.real_rounds) for engine in VERSIONS if args.real_rounds]
        failovers = [
            failover_times(kubectl, engine, args.failover_rounds) for engine in VERSIONS if args.failover_rounds
        ]
        return first, failovers
    finally:
        stopped(operator, kubectl, args.out / "operator-real.log")


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/benchmark", description=__doc__)
    parser.add_argument("--sizes", default="1,10,50", help="Databases applied at once, per round ('': no kwok rounds)")
    parser.add_argument("--idle-seconds", type=float, default=240, help="idle window for the CPU-per-hour figure")
    parser.add_argument("--drift-interval", type=float, default=120, help="DBOP_DRIFT_INTERVAL during the run")
    parser.add_argument("--noise", type=int, default=1000, help="unrelated Pods (and as many ConfigMaps) churned")
    parser.add_argument("--real-rounds", type=int, default=5, help="Databases per engine on the real node (0: none)")
    parser.add_argument(
        "--failover-rounds", type=int, default=3, help="failovers per engine on the real node (0: none)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmark-results", help="where JSON and PNG go")
    args = parser.parse_args()
    # Stopped from outside (SIGTERM), the clean-up still runs: the operator stopped, the cluster removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(size) for size in args.sizes.split(",") if size]

    args.out.mkdir(parents=True, exist_ok=True)
    tables: list[str] = []
    document: dict[str, Any] = {}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    if sizes:
        results, summary = kwok_rounds(args, sizes)
        document |= {"results": [result.as_json() for result in results], "summary": summary}
        write_chart(results, args.out / f"benchmark-{stamp}.png")
        tables.append(write_table(results, summary))
    if args.real_rounds > 0 or args.failover_rounds > 0:
        first, failovers = real_rounds(args)
        if first:
            document["real_pods"] = [result.as_json() for result in first]
            tables.append(write_first_query_table(first))
        if failovers:
            document["failover"] = [result.as_json() for result in failovers]
            failover_after = float(os.environ.get("DBOP_FAILOVER_AFTER", OperatorSettings.failover_after_seconds))
            tables.append(write_failover_table(failovers, failover_after))
    (args.out / f"benchmark-{stamp}.json").write_text(json.dumps(document, indent=2))
    print("\n\n".join(tables))
    print(f"wrote {args.out / f'benchmark-{stamp}.json'}" + (" and .png" if sizes else ""))


if __name__ == "__main__":
    main()

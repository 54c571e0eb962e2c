"""Benchmark figures: percentiles, ratios to the floor, the printed table and the PNG chart."""

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else math.nan


def spread(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "max": max(values, default=math.nan)}


@dataclass
class Result:
    """One round: `count` Databases applied at once. Latencies in seconds from the apply."""

    count: int
    statefulset: list[float]
    ready: list[float]
    floor_statefulset: list[float]
    floor_ready: list[float]
    cpu_seconds: float
    """The operator's CPU from the apply to the last Ready, its Pulumi processes included."""
    pulumi_cpu_seconds: float
    """Of that, its Pulumi processes' (the CLI and the provider plugin it starts)."""
    cluster_cpu_seconds: float
    """The control plane's CPU over the same time (the watches of the benchmark itself included)."""
    floor_cluster_cpu_seconds: float
    """The control plane's CPU from the floor's apply to its last StatefulSet ready."""
    cores: int
    change: list[float] = field(default_factory=list)
    floor_change: list[float] = field(default_factory=list)

    def rows(self) -> list[tuple[str, list[float], list[float]]]:
        rows = [
            (f"{self.count} at once: apply -> StatefulSet", self.statefulset, self.floor_statefulset),
            (f"{self.count} at once: apply -> Ready", self.ready, self.floor_ready),
        ]
        if self.change:
            rows.append((f"replicas change -> StatefulSet ({len(self.change)}x)", self.change, self.floor_change))
        return rows

    @property
    def cpu_bound_seconds(self) -> float:
        """The round's CPU, the operator's and the cluster's, spread over every core: no ordering of the work
        makes the round shorter than this."""
        return (self.cpu_seconds + self.cluster_cpu_seconds) / self.cores

    def as_json(self) -> dict[str, Any]:
        figures = {
            name: {**spread(values), "floor": spread(floor), "ratio_p50": ratio(values, floor)}
            for name, values, floor in self.rows()
        }
        return {**asdict(self), "figures": figures, "cpu_seconds_per_database": self.cpu_seconds / self.count,
                "cpu_bound_seconds": self.cpu_bound_seconds}  # fmt: skip


def ratio(values: list[float], floor: list[float]) -> float:
    floor_p50 = percentile(floor, 0.5)
    return percentile(values, 0.5) / floor_p50 if floor_p50 > 0 else math.nan


def write_table(results: list[Result], summary: dict[str, Any]) -> str:
    lines = [f"{'measure':<46} {'p50':>7} {'p95':>7} {'max':>7} {'floor p50':>10} {'x floor':>8}"]
    for result in results:
        for name, values, floor in result.rows():
            figures = spread(values)
            lines.append(
                f"{name:<46} {figures['p50']:>6.2f}s {figures['p95']:>6.2f}s {figures['max']:>6.2f}s "
                f"{percentile(floor, 0.5):>9.2f}s {ratio(values, floor):>7.1f}x"
            )
    lines.append("")
    for result in results:
        lines.append(
            f"{result.count} at once: operator CPU {result.cpu_seconds:.1f}s "
            f"({result.cpu_seconds / result.count:.2f}s per Database, children included; its Pulumi processes "
            f"{result.pulumi_cpu_seconds / result.count:.2f}s); control plane {result.cluster_cpu_seconds:.1f}s "
            f"({result.cluster_cpu_seconds / result.count:.2f}s per Database; the floor's "
            f"{result.floor_cluster_cpu_seconds:.1f}s); all of it over {result.cores} cores takes at least "
            f"{result.cpu_bound_seconds:.1f}s"
        )
    lines += [
        f"peak memory: operator {summary['peak_operator_rss_mb']:.0f} MB "
        f"({summary['peak_operator_rss_mb'] / summary['databases']:.1f} MB per Database), "
        f"operator with its Pulumi processes {summary['peak_tree_rss_mb']:.0f} MB",
        f"operator restarted cluster-wide: settled (resumes done) after {summary['settle_seconds']:.0f}s",
    ]
    for name in ("quiet", "noisy"):
        idle = summary[name]
        lines.append(
            f"idle, {name}: {summary['idle_databases']} in-sync Databases cost {idle['cpu_seconds_per_hour']:.0f} "
            f"CPU-seconds per hour ({idle['pulumi_runs']} Pulumi runs in {idle['seconds']:.0f}s, drift interval "
            f"{summary['drift_interval_seconds']:.0f}s); {idle['received_mb']:.1f} MB received from the API server; "
            f"operator RSS {idle['operator_rss_mb']:.0f} MB"
        )
    lines.append(
        f"noisy: {summary['noise_objects']} unrelated Pods and ConfigMaps in other namespaces, "
        f"{summary['noisy']['noise_updates_per_second']:.0f} updates per second"
    )
    return "\n".join(lines)


def write_chart(results: list[Result], path: Path) -> None:
    import matplotlib  # noqa: PLC0415  (only the benchmark needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = [row for result in results for row in result.rows()]
    labels = [name for name, _, _ in rows]
    positions = range(len(rows))
    figure, axis = plt.subplots(figsize=(10, 0.6 * len(rows) + 1.5))
    axis.barh([p + 0.2 for p in positions], [percentile(v, 0.5) for _, v, _ in rows], 0.4, label="operator p50")
    axis.barh([p - 0.2 for p in positions], [percentile(f, 0.5) for _, _, f in rows], 0.4, label="floor p50")
    axis.set_yticks(list(positions), labels)
    axis.invert_yaxis()
    axis.set_xlabel("seconds")
    axis.set_title("database-operator: latency against server-side apply of the same manifests")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


@dataclass
class FirstQuery:
    """Real pods of one engine: seconds from the apply to the first successful query, through the operator and
    for the same server started bare on a claim of the same class (the floor), one round after the other; and the
    bare server on an emptyDir, which waits for no volume (the server's own initialisation and start)."""

    engine: str
    operator: list[float]
    floor: list[float]
    bare_server: list[float]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "p50": percentile(self.operator, 0.5), "floor_p50": percentile(self.floor, 0.5),
                "ratio_p50": ratio(self.operator, self.floor),
                "bare_server_p50": percentile(self.bare_server, 0.5)}  # fmt: skip


def write_first_query_table(results: list[FirstQuery]) -> str:
    lines = [
        f"{'real pods: apply -> first query':<46} {'p50':>7} {'min':>7} {'max':>7} {'floor p50':>10} {'x floor':>8} "
        f"{'no-volume p50':>14}"
    ]
    for result in results:
        name = f"{result.engine} ({len(result.operator)}x)"
        lines.append(
            f"{name:<46} {percentile(result.operator, 0.5):>6.1f}s {min(result.operator):>6.1f}s "
            f"{max(result.operator):>6.1f}s {percentile(result.floor, 0.5):>9.1f}s "
            f"{ratio(result.operator, result.floor):>7.1f}x {percentile(result.bare_server, 0.5):>13.1f}s"
        )
    lines.append(
        "floor: the same image's server initialised and started by a bare Pod on a claim of the same class, behind "
        "a Service; no-volume: the same on an emptyDir"
    )
    return "\n".join(lines)


@dataclass
class Failover:
    """Real pods of one engine, three per Database, synchronous replication: each round's writes' outage, in
    seconds, from the last write acknowledged before the primary's server was killed to the first one after a
    replica took over."""

    engine: str
    seconds: list[float]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), **spread(self.seconds)}


def write_failover_table(results: list[Failover], failover_after: float) -> str:
    lines = [f"{'real pods: primary killed -> writes again':<46} {'p50':>7} {'min':>7} {'max':>7}"]
    for result in results:
        name = f"{result.engine} ({len(result.seconds)}x)"
        lines.append(
            f"{name:<46} {percentile(result.seconds, 0.5):>6.1f}s {min(result.seconds):>6.1f}s "
            f"{max(result.seconds):>6.1f}s"
        )
    lines.append(
        f"a Database of three pods, synchronous replication, failover after {failover_after:.0f} s not ready "
        "(DBOP_FAILOVER_AFTER); a write through <name> every 0.2 s: the longest pause between acknowledged ones"
    )
    return "\n".join(lines)

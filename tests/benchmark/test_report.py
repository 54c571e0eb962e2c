"""The benchmark's arithmetic: nearest-rank percentiles and ratios to the floor, as the table prints them."""

import math

from benchmark.report import Result, percentile, ratio, write_table


def test_percentiles_are_nearest_rank() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([7.0], 0.5)) == (2.0, 4.0, 7.0)
    assert math.isnan(percentile([], 0.5))


def test_every_latency_is_also_a_ratio_to_the_floor() -> None:
    assert ratio([3.0, 6.0, 9.0], [0.5, 1.0, 2.0]) == 6.0
    result = Result(count=2, statefulset=[2.0, 4.0], ready=[3.0, 5.0], floor_statefulset=[0.5, 0.5],
                    floor_ready=[1.0, 1.0], cpu_seconds=10.0, pulumi_cpu_seconds=7.0, cluster_cpu_seconds=6.0,
                    floor_cluster_cpu_seconds=1.5, cores=2)  # fmt: skip
    idle = {"seconds": 240.0, "cpu_seconds_per_hour": 36.0, "pulumi_runs": 4, "received_mb": 1.0,
            "operator_rss_mb": 150.0, "noise_updates_per_second": 30.0}  # fmt: skip
    summary = {"peak_operator_rss_mb": 200.0, "peak_tree_rss_mb": 600.0, "databases": 2, "idle_databases": 2,
               "drift_interval_seconds": 120.0, "settle_seconds": 20.0, "quiet": idle, "noisy": idle,
               "noise_objects": 2000}  # fmt: skip
    table = write_table([result], summary)
    assert "2 at once: apply -> StatefulSet" in table and "4.0x" in table  # p50 2.0s against 0.5s
    assert "5.00s per Database" in table and "100.0 MB per Database" in table
    assert "its Pulumi processes 3.50s); control plane 6.0s (3.00s per Database; the floor's 1.5s)" in table
    assert "all of it over 2 cores takes at least 8.0s" in table  # (10 + 6) / 2
    assert "idle, noisy: 2 in-sync Databases cost 36 CPU-seconds per hour (4 Pulumi runs in 240s" in table
    assert result.as_json()["figures"]["2 at once: apply -> Ready"]["ratio_p50"] == 3.0

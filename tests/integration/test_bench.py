"""A smoke run of each stream benchmark at a tiny size: exact totals reached (each benchmark raises
otherwise) and every figure present; no assertion on speed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from deploy.bench import report
from deploy.bench.checkpoint_cost import bench_checkpoint_cost
from deploy.bench.freshness import bench_freshness
from deploy.bench.state_scale import bench_state_scale
from deploy.bench.throughput import bench_throughput
from deploy.settings import Settings


def test_throughput_times_the_job_with_and_without_dedup_and_the_flink_sql_baseline(
    stack: Settings, tmp_path: Path
) -> None:
    results = bench_throughput(stack, events=3000, movies=30)
    jobs = [r["job"] for r in results["rows"]]
    assert jobs == ["project", "project, dedup off", "project, trending off", "flink-sql baseline"]
    assert all(r["events"] == 3000 and r["events/s"] > 0 for r in results["rows"])
    assert results["ratio"] > 0 and results["trending_ratio"] > 0
    assert results["dedup"]["ids"] == 3000 and results["dedup"]["on_over_off"] > 0
    written = report.write(dataclasses.replace(stack, home=tmp_path), "throughput", results)
    assert json.loads(written.read_text())["machine"]["cpus"] >= 1


def test_checkpoint_cost_runs_with_and_without_checkpoints(stack: Settings) -> None:
    results = bench_checkpoint_cost(stack, events=3000, movies=30)
    assert len(results["rows"]) == 2 and results["ratio_on_to_off"] > 0


def test_state_scale_reports_checkpoints_and_memory(stack: Settings) -> None:
    results = bench_state_scale(stack, events=5000, movies=4096)
    assert results["distinct_movies"] > 2500  # uniform draw: 4096 * (1 - e^-1.2) expected
    assert results["checkpoint"]["latest_size_mb"] > 0 and results["checkpoint"]["latest_duration_ms"] >= 0
    assert {"kafka", "flink taskmanager", "postgres (all backends)"} <= results["rss_mb"].keys()


def test_freshness_measures_each_probe(stack: Settings) -> None:
    results = bench_freshness(stack, rates=[200], probes=3)
    (row,) = results["rows"]
    assert row["probes"] == 3 and 0 < row["p50_ms"] <= row["p99_ms"]

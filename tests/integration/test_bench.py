"""A smoke run of each stream benchmark at a tiny size: exact totals reached (each benchmark raises
otherwise) and every figure present; no assertion on speed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from deploy.bench import report
from deploy.bench.checkpoint_cost import bench_checkpoint_cost
from deploy.bench.freshness import bench_freshness
from deploy.bench.read import bench_read
from deploy.bench.state_scale import bench_state_scale
from deploy.bench.throughput import bench_throughput
from deploy.bench.write import bench_write
from deploy.sandbox import Sandbox
from deploy.settings import Settings
from stream.topology import BATCH_MS


def test_throughput_times_the_job_with_and_without_dedup_and_trending_and_both_flink_sql_baselines(
    stack: Settings, tmp_path: Path
) -> None:
    result = bench_throughput(stack, events=3000, movies=30, times=1)
    jobs = [r["job"] for r in result.rows]
    assert jobs == [
        "project",
        "flink-sql baseline, dedup",
        "project, dedup off",
        "project, trending off",
        "project, dedup and trending off",
        "flink-sql baseline",
    ]
    assert all(r["events"] == 3000 and r["events/s"] > 0 for r in result.rows)
    assert result.figures["project/baseline"] > 0 and result.figures["trending on/off"] > 0
    assert result.figures["all off/baseline"] > 0
    # The targets are set at 1,000 and 100,000 movies: a run over 30 judges none.
    assert result.figures["targets"] == {}
    assert result.figures["dedup"]["ids"] == 3000 and result.figures["dedup"]["on_over_off"] > 0
    written = json.loads(report.write(dataclasses.replace(stack, home=tmp_path), result).read_text())
    assert written["benchmark"] == "throughput" and written["machine"]["cpus"] >= 1
    assert written["rows"] == result.rows and written["parameters"]["events"] == 3000


def test_checkpoint_cost_runs_with_and_without_checkpoints(stack: Settings) -> None:
    result = bench_checkpoint_cost(stack, events=3000, movies=30)
    assert len(result.rows) == 2 and result.figures["on/off"] > 0


def test_state_scale_reports_checkpoints_and_memory_on_rocksdb_with_incremental_checkpoints(
    stack: Settings,
) -> None:
    result = bench_state_scale(stack, events=5000, movies=4096, state_backend="rocksdb")
    assert result.figures["distinct_movies"] > 2500  # uniform draw: 4096 * (1 - e^-1.2) expected
    (checkpoint,) = result.rows
    assert checkpoint["latest_size_mb"] > 0 and checkpoint["latest_duration_ms"] >= 0
    assert checkpoint["state_backend"] == "rocksdb"
    assert {"kafka", "flink taskmanager", "postgres (all backends)"} <= result.figures["rss_mb"].keys()


def test_freshness_measures_each_probe_in_top_movies_and_on_the_subscription(stack: Settings) -> None:
    result = bench_freshness(stack, rates=[200], probes=3, runs=2)
    (row,) = result.rows
    assert row["probes"] == 3 and 0 < row["p50_ms"] <= row["p99_ms"]
    assert row["floor_ms"] == BATCH_MS + stack.flush_interval_ms and row["p99_ms range"][0] <= row["p99_ms"]
    assert 0 < row["subscription_p50_ms"] <= row["subscription_p99_ms"]


def test_write_finds_every_acknowledged_view_in_the_log_and_reads_run_while_views_are_produced(
    stack: Settings,
) -> None:
    with Sandbox(stack, "bench-write") as env:
        env.start_api()
        result = bench_write(env.settings, env.settings.api_url, clients=[2], seconds=0.5, runs=1)
        reads = bench_read(
            env.settings, env.settings.api_url, clients=[2], seconds=0.5, write_rate=200, runs=1
        )
    # No job runs here, so movie(id) finds no movie: only that reads were served while views flowed counts.
    assert reads.rows[0]["requests"] > 0
    assert reads.figures["produced_events/s"] > 0
    assert [(r["call"], r["clients"], r["errors"]) for r in result.rows] == [
        ("graphql", 2, 0),
        ("rest", 2, 0),
    ]
    assert all(r["requests"] > 0 for r in result.rows)
    # Each beside its ceiling, measured in the same run: the bare app's reads, the bare producing endpoint.
    assert reads.rows[0]["bare req/s"] > 0 and all(
        r["bare req/s"] > 0 and r["x bare"] > 0 for r in result.rows
    )
    assert result.figures["acknowledged"] >= sum(r["requests"] for r in result.rows)
    assert result.figures["missing_from_log"] == 0

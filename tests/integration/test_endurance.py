"""The job's memory does not grow with traffic: the stack's own job configuration (its default state backend,
deduplication and trending on) at a steady rate, with the deduplication window scaled down so that the
steady state is reached in seconds (`movieviews bench soak`'s core, on its own topics and database)."""

from __future__ import annotations

from deploy.bench.soak import Plan, bench_soak
from deploy.settings import Settings


def test_the_remembered_ids_stop_growing_once_the_window_is_full_while_every_count_stays_exact(
    stack: Settings,
) -> None:
    # 1,000 events/s for 150 s, each id remembered for 15 s: 150,000 ids sent, 15,000 in a full window.
    plan = Plan(
        rate=1000,
        duration_s=150,
        window_s=15,
        movies=50,
        interval_s=10,
        warmup_s=60,
        checkpoint_interval_ms=1000,
    )
    # bench_soak raises unless Postgres ends with exactly the acknowledged count of every movie.
    result = bench_soak(stack, plan)
    assert result.figures["events"] == 150_000
    judged = [s["remembered_ids"] for s in result.rows if s["t_s"] >= plan.warmup]
    assert len(judged) >= 4 and None not in judged
    # Expired ids leave the state: it holds a window's ids plus those the next compaction drops (level-0
    # files of a few checkpoints), far from the 90,000+ sent by the first judged sample.
    assert max(judged) < 3 * plan.rate * plan.window_s
    ids = result.figures["slopes"]["remembered_ids"]
    assert ids["flat"], ids
    assert result.figures["restarts"]["job"] == 0


def test_a_soak_holding_two_million_remembered_ids_stays_flat_in_every_series_without_a_restart(
    stack: Settings,
) -> None:
    # `movieviews bench soak --ids 2000000 --rate 20000 --duration 240 --interval 15`: the window scaled to
    # 100 s so that 2M ids are remembered after the first 100 s of load, then judged for the rest.
    plan = Plan(rate=20_000, duration_s=240, window_s=100, movies=1000, interval_s=15)
    result = bench_soak(stack, plan)
    slopes = result.figures["slopes"]
    assert {"heap_after_gc_mb", "remembered_ids", "state_mb", "taskmanager_rss_mb"} <= slopes.keys()
    assert [name for name, verdict in slopes.items() if not verdict["flat"]] == [], slopes
    assert result.figures["restarts"] == {"job": 0, "supervised": 0}
    assert result.figures["passed"]
    # The plateau holds the window's ids, not the 4.8M sent.
    assert 1_000_000 < slopes["remembered_ids"]["mean"] < 4_000_000

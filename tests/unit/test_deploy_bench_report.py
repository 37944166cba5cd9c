"""Benchmarks print each figure an issue set a target for beside the target and whether it was met."""

from __future__ import annotations

from deploy.bench.report import Target, against


def test_each_measured_target_shows_the_figure_the_bound_and_whether_it_was_met() -> None:
    targets = (
        Target("events/s", 80_000),
        Target("p99_ms at 50", 5.0, at_most=True),
        Target("events/s over 100,000 movies", 60_000),
    )
    verdicts = against(targets, {"events/s": 77_048.4, "p99_ms at 50": 4.2, "p99_ms at 10": 9.0})
    assert verdicts == {
        "events/s": "77,048 (target >= 80,000: missed)",
        "p99_ms at 50": "4.20 (target <= 5.00: met)",
    }

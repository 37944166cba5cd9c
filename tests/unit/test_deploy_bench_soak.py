"""`bench soak`'s verdict on a series: flat when the growth over the judged span stays within the bound; the
heap after collection judged by the level its swings come back down to, so G1's sawtooth is not growth and a
leak is."""

from __future__ import annotations

from typing import Any

from deploy.bench.soak import LAG_FLOOR_S, SERIES, slope_verdict


def samples(name: str, values: list[float]) -> list[dict[str, Any]]:
    return [{"t_s": 15 * i, name: v} for i, v in enumerate(values)]


HEAP = "heap_after_gc_mb"


def test_a_heap_that_swings_up_at_the_end_without_its_lows_rising_is_flat() -> None:
    # A soak's samples when old-generation garbage built up in its last interval: a line fitted through them
    # predicts over 200 MB of growth, while the heap came back to within 42 MB of its earlier low.
    values = [412, 370, 281, 379, 422, 323, 734]
    verdict = slope_verdict(samples(HEAP, values), HEAP, SERIES[HEAP], 0.2)
    assert verdict is not None and verdict["flat"], verdict
    assert verdict["change"] == 323 - 281 and verdict["slope_per_h"] * 90 / 3600 > 200


def test_a_heap_whose_lows_keep_rising_is_not_flat() -> None:
    values = [300, 500, 420, 640, 600, 820, 780, 1000]
    verdict = slope_verdict(samples(HEAP, values), HEAP, SERIES[HEAP], 0.2)
    assert verdict is not None and not verdict["flat"], verdict
    assert verdict["change"] == 600 - 300 and verdict["allowed"] == 0.2 * 1024


def test_any_other_series_is_judged_by_the_line_fitted_through_it() -> None:
    growing = slope_verdict(samples("remembered_ids", [1e6, 2e6, 3e6, 4e6]), "remembered_ids", None, 0.2)
    plateau = slope_verdict(
        samples("remembered_ids", [2.1e6, 2.0e6, 2.2e6, 2.1e6]), "remembered_ids", None, 0.2
    )
    assert growing is not None and not growing["flat"] and growing["change"] == 3e6
    assert plateau is not None and plateau["flat"]


def test_a_checkpoint_that_uploaded_a_compactions_files_at_the_end_is_not_growth() -> None:
    # Incremental checkpoints of about 2 MB, then one after a compaction rewrote files (MB).
    written = "checkpoint_written_mb"
    verdict = slope_verdict(
        samples(written, [2.1, 2.2, 2.0, 2.3, 2.1, 2.2, 96.0]), written, SERIES[written], 0.2
    )
    assert verdict is not None and verdict["flat"], verdict


def test_a_lag_that_swings_between_commits_is_flat_and_one_whose_lows_rise_is_not() -> None:
    # The 2M-id soak's readings that a fitted line called growth (records; 20k events/s, 2 s checkpoints).
    floor = 20_000 * LAG_FLOOR_S
    swinging = slope_verdict(samples("lag", [13_571, 18_161, 13_911, 39_146, 39_051]), "lag", floor, 0.2)
    assert swinging is not None and swinging["flat"], swinging
    # The 30M-id soak falling behind, then stalled during a full compaction.
    behind = slope_verdict(samples("lag", [80_374, 79_082, 126_037, 393_709, 942_766]), "lag", floor, 0.2)
    assert behind is not None and not behind["flat"], behind

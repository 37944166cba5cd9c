"""Trending: views per movie in the last hour and the last 24 hours of event time (`occurred_at`).

Per movie, a count per event-time minute (Flink `MapState`, minute -> views) and two running totals; the
`KeyedProcessFunction` in `stream.taskmanager.functions` adapts these pure functions, as it does
`stream.taskmanager.state.apply`.

Windows slide by the minute with the watermark W (event time; Kafka record timestamps, at most
`WATERMARK_DELAY_S` out of order, see `stream.topology`): with w = W's minute, HOUR counts the minutes
(w - 60, w] and DAY the minutes (w - 1440, w]. Event-time timers at minute boundaries move the totals: at
boundary b, minute b enters both windows (views that arrived ahead of the watermark wait for it), minute
b - 60 leaves HOUR and minute b - 1440 leaves DAY (and the state). A timer fires when the watermark passes it,
before any later element, so an element sees totals that are exact for the current watermark.

Lateness: a view arriving behind the watermark still counts in every window that still holds its minute:
up to 24 hours late it counts in DAY, up to an hour late in HOUR. Older than 24 hours behind the watermark it
is left out of trending (`late` in the result; the all-time count in `movie_stats` still has it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

MINUTE_MS = 60_000
HOUR = 60  # minutes
DAY = 1440  # minutes


class MinuteCounts(Protocol):
    """A movie's views per event-time minute: Flink's `MapState` in the job, a dict in tests."""

    def get(self, minute: int) -> int | None: ...

    def put(self, minute: int, views: int) -> None: ...

    def remove(self, minute: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Trend:
    hour: int = 0
    day: int = 0
    # Changes applied (views added, boundaries crossed): the guarded upsert's order within a run.
    version: int = 0


@dataclass(frozen=True, slots=True)
class Added:
    trend: Trend
    timers_ms: tuple[int, ...]  # event-time timers the adapter registers (boundaries still ahead)
    late: int  # views too late for any window


def minute_of(ms: int) -> int:
    return ms // MINUTE_MS


def add_views(
    trend: Trend, minutes: MinuteCounts, watermark_ms: int, counts: Iterable[tuple[int, int]]
) -> Added:
    """`counts` are (minute, views) pairs; `minutes` is the movie's per-minute state, updated in place."""
    w = minute_of(watermark_ms)
    hour, day, late, changed = trend.hour, trend.day, 0, False
    timers: list[int] = []
    for minute, views in counts:
        if minute <= w - DAY:
            late += views
            continue
        before = minutes.get(minute)
        minutes.put(minute, views if before is None else before + views)
        changed = True
        if minute <= w:
            day += views
            if minute > w - HOUR:
                hour += views
        if before is None:
            # The first views of this minute: timers for the boundaries still ahead (entering, leaving).
            timers += [b * MINUTE_MS for b in (minute, minute + HOUR, minute + DAY) if b > w]
    if not changed:
        return Added(trend, (), late)
    return Added(Trend(hour, day, trend.version + 1), tuple(timers), late)


def cross_boundary(trend: Trend, minutes: MinuteCounts, boundary_ms: int) -> Trend:
    """The watermark reached `boundary_ms` (a minute start, a timer `add_views` asked for)."""
    b = minute_of(boundary_ms)
    entering = minutes.get(b) or 0
    leaving_hour = minutes.get(b - HOUR) or 0
    leaving_day = minutes.get(b - DAY) or 0
    if leaving_day:
        minutes.remove(b - DAY)
    return Trend(trend.hour + entering - leaving_hour, trend.day + entering - leaving_day, trend.version + 1)


def encode_counts(counts: Iterable[tuple[int, int]]) -> str:
    """(minute, views) pairs as the string column that carries them between operators: "m:v,m:v"."""
    return ",".join(f"{minute}:{views}" for minute, views in counts)


def decode_counts(text: str | None) -> list[tuple[int, int]]:
    if not text:
        return []
    pairs = (item.split(":") for item in text.split(","))
    return [(int(minute), int(views)) for minute, views in pairs]

"""Trending windows without Flink: a small simulation of the watermark and the event-time timers checks the
pure functions against totals counted from scratch."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.taskmanager.trending import (
    DAY,
    HOUR,
    MINUTE_MS,
    Trend,
    add_views,
    cross_boundary,
    decode_counts,
    encode_counts,
)


class Counts(dict[int, int]):
    """`MinuteCounts` over a dict, as Flink's MapState offers it."""

    def put(self, minute: int, views: int) -> None:
        self[minute] = views

    def remove(self, minute: int) -> None:
        del self[minute]


class Movie:
    """One movie's state under a watermark that only moves forward, timers firing as Flink fires them."""

    def __init__(self) -> None:
        self.trend = Trend()
        self.minutes = Counts()
        self.timers: set[int] = set()
        self.watermark = -(2**63)
        self.counted: list[tuple[int, int]] = []  # (minute, views) that trending accepted
        self.late = 0

    def views(self, minute: int, views: int) -> None:
        added = add_views(self.trend, self.minutes, self.watermark, [(minute, views)])
        self.trend = added.trend
        self.timers.update(added.timers_ms)
        self.late += added.late
        if not added.late:
            self.counted.append((minute, views))

    def advance(self, watermark: int) -> None:
        self.watermark = max(self.watermark, watermark)
        for timer in sorted(t for t in self.timers if t <= self.watermark):
            self.timers.discard(timer)
            self.trend = cross_boundary(self.trend, self.minutes, timer)

    def truth(self) -> tuple[int, int]:
        w = self.watermark // MINUTE_MS
        hour = sum(v for m, v in self.counted if w - HOUR < m <= w)
        day = sum(v for m, v in self.counted if w - DAY < m <= w)
        return hour, day


T = 29_000_000  # a minute number in 2025


def test_views_count_in_the_windows_that_hold_their_minute() -> None:
    movie = Movie()
    movie.advance(T * MINUTE_MS + 30_000)
    movie.views(T, 2)  # now
    movie.views(T - 30, 3)  # half an hour ago: both windows
    movie.views(T - 120, 4)  # two hours ago: DAY only
    movie.views(T - 2000, 5)  # more than a day ago: too late for trending
    assert (movie.trend.hour, movie.trend.day, movie.late) == (5, 9, 5)


def test_the_hour_slides_with_the_watermark() -> None:
    movie = Movie()
    movie.advance(T * MINUTE_MS)
    movie.views(T - 59, 1)
    movie.views(T, 1)
    assert movie.trend.hour == 2
    movie.advance((T + 1) * MINUTE_MS)  # minute T - 59 leaves the hour, stays in the day
    assert (movie.trend.hour, movie.trend.day) == (1, 2)
    movie.advance((T + DAY) * MINUTE_MS)
    assert (movie.trend.hour, movie.trend.day) == (0, 0)
    assert movie.minutes == {}  # nothing kept past the day


def test_views_ahead_of_the_watermark_wait_for_it() -> None:
    movie = Movie()
    movie.advance(T * MINUTE_MS)
    movie.views(T + 5, 7)
    assert (movie.trend.hour, movie.trend.day) == (0, 0)
    movie.advance((T + 5) * MINUTE_MS)
    assert (movie.trend.hour, movie.trend.day) == (7, 7)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_random_arrivals_and_watermarks_always_match_counting_from_scratch(seed: int) -> None:
    rng = random.Random(seed)
    movie = Movie()
    watermark = T * MINUTE_MS
    movie.advance(watermark)
    for _ in range(60):
        if rng.random() < 0.3:
            watermark += rng.choice([1_000, 30_000, MINUTE_MS, 17 * MINUTE_MS, 500 * MINUTE_MS])
            movie.advance(watermark)
        else:
            w = watermark // MINUTE_MS
            minute = w + rng.randint(-DAY - 30, 20)
            movie.views(minute, rng.randint(1, 5))
        assert (movie.trend.hour, movie.trend.day) == movie.truth()


def test_a_batch_without_views_changes_nothing() -> None:
    added = add_views(Trend(3, 4, 9), Counts(), T * MINUTE_MS, [])
    assert added.trend == Trend(3, 4, 9) and added.timers_ms == ()


def test_minute_counts_travel_as_a_short_string() -> None:
    assert decode_counts(encode_counts([(T, 3), (T + 1, 1)])) == [(T, 3), (T + 1, 1)]
    assert decode_counts("") == [] and decode_counts(None) == []

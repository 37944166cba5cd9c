from __future__ import annotations

import itertools

import pytest

from stream.taskmanager.state import (
    FlushDue,
    MovieState,
    RecentFlushes,
    Registered,
    ScheduleFlush,
    Snapshot,
    Views,
    apply,
)


def view(movie: str = "m1", at: int = 1_000, watched: int = 0) -> Views:
    return Views(movie, 1, watched, at, at)


def registered(at: int = 500, title: str = "Alien") -> Registered:
    return Registered("m1", title, 1979, "sci-fi", at)


def run(events: list[Views | Registered | FlushDue]) -> tuple[MovieState, list[object]]:
    state, emitted = MovieState("m1"), []
    for event in events:
        state, outputs = apply(state, event)
        emitted.extend(outputs)
    return state, emitted


def test_a_view_counts_and_asks_for_a_flush() -> None:
    state, outputs = apply(MovieState("m1"), view(at=1_000, watched=30))
    assert outputs == (ScheduleFlush(),)
    assert (state.view_count, state.watch_seconds, state.first_ms, state.last_ms) == (1, 30, 1_000, 1_000)
    assert state.version == 1 and state.pending


def test_changes_between_flushes_ask_for_one_timer_and_emit_one_absolute_snapshot() -> None:
    state, emitted = run([view(at=3), view(at=1), view(at=2), FlushDue()])
    assert emitted == [
        ScheduleFlush(),
        Snapshot("m1", None, None, None, 3, 0, 1, 3, 3),
    ]
    assert not state.pending


def test_a_flush_without_changes_emits_nothing_and_keeps_the_state() -> None:
    state, _ = run([view(), FlushDue()])
    after, outputs = apply(state, FlushDue())
    assert outputs == ()
    assert after is state


def test_snapshots_after_each_flush_carry_totals_not_increments() -> None:
    _, emitted = run([view(), FlushDue(), view(), view(), FlushDue()])
    snapshots = [o for o in emitted if isinstance(o, Snapshot)]
    assert [(s.view_count, s.version) for s in snapshots] == [(1, 1), (3, 3)]


def test_pre_aggregated_views_count_every_event_in_the_version() -> None:
    state, _ = apply(MovieState("m1"), Views("m1", 5, 100, 10, 50))
    state, _ = apply(state, Views("m1", 2, 0, 5, 20))
    assert (state.view_count, state.watch_seconds, state.first_ms, state.last_ms) == (7, 100, 5, 50)
    assert state.version == 7


def test_registration_sets_metadata_and_bumps_the_version() -> None:
    state, outputs = apply(MovieState("m1"), registered())
    assert outputs == (ScheduleFlush(),)
    assert (state.title, state.year, state.genre, state.version, state.view_count) == (
        "Alien",
        1979,
        "sci-fi",
        1,
        0,
    )
    assert state.first_ms is None


def test_views_before_registration_keep_their_count() -> None:
    state, _ = run([view(), view(), registered(), FlushDue()])
    assert (state.view_count, state.title, state.version) == (2, "Alien", 3)


def test_the_later_registration_wins_in_either_arrival_order() -> None:
    old, new = registered(at=1, title="Old"), registered(at=2, title="New")
    forward, _ = run([old, new])
    backward, _ = run([new, old])
    assert forward.title == backward.title == "New"
    assert forward.version == backward.version == 2


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([view(at=5, watched=1), view(at=2), registered(), view(at=9, watched=4)])),
)
def test_the_final_snapshot_does_not_depend_on_arrival_order(order: tuple[Views | Registered, ...]) -> None:
    _, emitted = run([*order, FlushDue()])
    assert emitted[-1] == Snapshot("m1", "Alien", 1979, "sci-fi", 3, 5, 2, 9, 4)


def test_a_flush_before_any_event_emits_nothing() -> None:
    state, outputs = apply(MovieState("m1"), FlushDue())
    assert outputs == () and state == MovieState("m1")


def test_a_movie_flushed_less_than_an_interval_ago_is_held_until_then_and_any_other_leaves_at_once() -> None:
    recent = RecentFlushes(200)
    assert recent.held_until("m1", 1_000) is None
    recent.flushed("m1", 1_000)
    assert recent.held_until("m1", 1_000) == 1_200 and recent.held_until("m1", 1_199) == 1_200
    assert recent.held_until("m2", 1_199) is None
    assert recent.held_until("m1", 1_200) is None


@pytest.mark.parametrize("flushed_at", [0, 50, 199, 250, 399, 1_000])
@pytest.mark.parametrize("step", [1, 37, 120, 199, 450])
def test_a_flush_holds_the_movie_for_exactly_an_interval_however_often_time_is_looked_at(
    flushed_at: int, step: int
) -> None:
    """Generations rotate at the calls: whatever the calls before and after, a movie is held back the whole
    interval after its flush (at most one snapshot per interval), until that interval's end, and not a
    millisecond after it."""
    recent = RecentFlushes(200)
    for now in range(0, flushed_at, step):
        recent.held_until("other", now)
    recent.flushed("m1", flushed_at)
    for now in range(flushed_at, flushed_at + 600, step):
        expected = flushed_at + 200 if now - flushed_at < 200 else None
        assert recent.held_until("m1", now) == expected, now

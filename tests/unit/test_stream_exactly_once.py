"""Exactly-once counts from the keyed state and the guarded upsert, as a Hypothesis state machine.

The system: the job reads the views and movies topics in any interleaving, drops a view whose event id it has
seen (the JVM's deduplication, checkpointed with the state), sums the views of a read per movie (the JVM's
pre-aggregation), runs the pure `apply` per movie, and sends each snapshot to a sink that writes in any order,
twice or not at all before a crash; Postgres keeps a row only over a lower version (stream/upsert.py's guard).
A checkpoint writes what the sink holds and saves positions, state, seen ids and timers; a crash loses what
the sink holds and rolls everything back to the last checkpoint, from where the topics are read again.

The model: per movie, the distinct views in the log and the registration with the latest occurred_ms (on a
tie, the later one in the movies topic: one movie's registrations share a partition). Whatever the machine
does, the table never counts more than the model, and once everything is read, flushed and written, equals it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from stream.taskmanager.state import (
    FlushDue,
    MovieState,
    Registered,
    ScheduleFlush,
    Snapshot,
    Views,
    apply,
)

MOVIES = ("m-1", "m-2", "m-3")


@dataclasses.dataclass(frozen=True)
class View:
    event_id: int
    movie_id: str
    watch_seconds: int
    occurred_ms: int


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    views_at: int
    movies_at: int
    states: dict[str, MovieState]
    seen: frozenset[int]
    timers: frozenset[str]


class ExactlyOnce(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.views: list[View] = []  # the views topic, duplicates (a producer's resend) included
        self.movies: list[Registered] = []  # the movies topic
        self.views_at = self.movies_at = 0  # the job's positions
        self.states: dict[str, MovieState] = {}
        self.seen: set[int] = set()
        self.timers: set[str] = set()
        self.in_flight: list[Snapshot] = []  # emitted, not yet written
        self.table: dict[str, Snapshot] = {}
        self.checkpoint = Checkpoint(0, 0, {}, frozenset(), frozenset())
        self.restores = 0

    # --- the producers ---

    @rule(movie=st.sampled_from(MOVIES), watched=st.integers(0, 500), at=st.integers(0, 10_000))
    def produce_view(self, movie: str, watched: int, at: int) -> None:
        self.views.append(View(len(self.views), movie, watched, at))

    @precondition(lambda self: self.views)
    @rule(data=st.data())
    def resend_view(self, data: st.DataObject) -> None:
        self.views.append(data.draw(st.sampled_from(self.views)))

    @rule(
        movie=st.sampled_from(MOVIES),
        title=st.sampled_from(["Alien", "Heat", "Ran"]),
        at=st.integers(0, 3),  # few values: registrations of one movie often tie
    )
    def register(self, movie: str, title: str, at: int) -> None:
        self.movies.append(Registered(movie, title, 1979, "drama", at))

    # --- the job ---

    def _apply(self, movie: str, event: Views | Registered | FlushDue) -> None:
        state, outputs = apply(self.states.get(movie, MovieState(movie)), event)
        self.states[movie] = state
        for output in outputs:
            if isinstance(output, ScheduleFlush):
                self.timers.add(movie)
            else:
                self.in_flight.append(output)

    @precondition(lambda self: self.views_at < len(self.views))
    @rule(up_to=st.integers(1, 6))
    def read_views(self, up_to: int) -> None:
        read = self.views[self.views_at : self.views_at + up_to]
        self.views_at += len(read)
        fresh = []
        for view in read:
            if view.event_id not in self.seen:
                self.seen.add(view.event_id)
                fresh.append(view)
        for movie in dict.fromkeys(view.movie_id for view in fresh):
            of_movie = [view for view in fresh if view.movie_id == movie]
            at = [view.occurred_ms for view in of_movie]
            watched = sum(view.watch_seconds for view in of_movie)
            self._apply(movie, Views(movie, len(of_movie), watched, min(at), max(at)))

    @precondition(lambda self: self.movies_at < len(self.movies))
    @rule()
    def read_registration(self) -> None:
        event = self.movies[self.movies_at]
        self.movies_at += 1
        self._apply(event.movie_id, event)

    @precondition(lambda self: self.timers)
    @rule(data=st.data())
    def fire_timer(self, data: st.DataObject) -> None:
        movie = data.draw(st.sampled_from(sorted(self.timers)))
        self.timers.discard(movie)
        self._apply(movie, FlushDue())

    # --- the sink and Postgres ---

    def _write(self, row: Snapshot) -> None:
        stored = self.table.get(row.movie_id)
        if stored is None or stored.version < row.version:
            self.table[row.movie_id] = row

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), again=st.booleans())
    def write_one(self, data: st.DataObject, again: bool) -> None:
        """Any row the sink holds, not necessarily the oldest; `again`: written, and kept to be written again
        (a retried batch)."""
        index = data.draw(st.integers(0, len(self.in_flight) - 1))
        self._write(self.in_flight[index] if again else self.in_flight.pop(index))

    @rule(data=st.data())
    def checkpoint_completes(self, data: st.DataObject) -> None:
        for row in data.draw(st.permutations(self.in_flight)):
            self._write(row)
        self.in_flight = []
        self.checkpoint = Checkpoint(
            self.views_at, self.movies_at, dict(self.states), frozenset(self.seen), frozenset(self.timers)
        )

    @rule()
    def crash_and_restore(self) -> None:
        self.in_flight = []
        saved = self.checkpoint
        self.views_at, self.movies_at = saved.views_at, saved.movies_at
        self.states, self.seen, self.timers = dict(saved.states), set(saved.seen), set(saved.timers)
        self.restores += 1

    # --- what a reader sees ---

    def expected(self) -> dict[str, tuple[int, int, int | None, int | None, str | None]]:
        """Per movie: views, watch seconds, first and last occurred_ms, title."""
        distinct = {view.event_id: view for view in self.views}.values()
        views = Counter(view.movie_id for view in distinct)
        out = {}
        for movie in {*views, *(event.movie_id for event in self.movies)}:
            of_movie = [view for view in distinct if view.movie_id == movie]
            at = [view.occurred_ms for view in of_movie]
            registrations = [
                (e.occurred_ms, i, e.title) for i, e in enumerate(self.movies) if e.movie_id == movie
            ]
            out[movie] = (
                views[movie],
                sum(view.watch_seconds for view in of_movie),
                min(at, default=None),
                max(at, default=None),
                max(registrations)[2] if registrations else None,
            )
        return out

    def shown(self) -> dict[str, tuple[int, int, int | None, int | None, str | None]]:
        return {
            movie: (row.view_count, row.watch_seconds, row.first_ms, row.last_ms, row.title)
            for movie, row in self.table.items()
        }

    @invariant()
    def never_more_than_the_log_holds(self) -> None:
        expected = self.expected()
        for movie, (views, watched, *_) in self.shown().items():
            assert views <= expected[movie][0] and watched <= expected[movie][1], (movie, self.table[movie])

    def teardown(self) -> None:
        """Everything read, every timer fired, every row written: the table equals the model."""
        if not hasattr(self, "table"):
            return
        while self.views_at < len(self.views) or self.movies_at < len(self.movies) or self.timers:
            if self.views_at < len(self.views):
                self.read_views(len(self.views))
            if self.movies_at < len(self.movies):
                self.read_registration()
            for movie in sorted(self.timers):
                self.timers.discard(movie)
                self._apply(movie, FlushDue())
        for row in reversed(self.in_flight):  # the newest first: the order that tests the guard most
            self._write(row)
        assert self.shown() == self.expected(), f"after {self.restores} restore(s)"


TestExactlyOnce = ExactlyOnce.TestCase

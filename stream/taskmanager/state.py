"""Per-movie state and the pure transition `apply(state, event) -> (state, outputs)`.

The Flink `KeyedProcessFunction` in `functions` is a thin adapter over `apply`: it loads the movie's
`ValueState`, applies one event, stores the result and turns the outputs into timers and emitted rows. Keeping
the rules here lets them be tested without Flink.

Snapshots carry absolute values and a version equal to the number of events applied to the movie, so a replay
after a restore reproduces the same versions and the guarded upsert in Postgres rejects what it already holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Flink's LONG and Postgres' bigint, where every total is stored: `apply` refuses (OverflowError) an event
# that would take one past them, and the adapter dead-letters it with the state unchanged.
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Views:
    """`count` views of one movie; a single `MovieViewed` is `count=1`, a pre-aggregated batch is more."""

    movie_id: str
    count: int
    watch_seconds: int
    first_ms: int
    last_ms: int
    # (event-time minute, views) for `stream.taskmanager.trending`; not part of the all-time count's equality.
    minutes: tuple[tuple[int, int], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Registered:
    movie_id: str
    title: str
    year: int
    genre: str
    occurred_ms: int


@dataclass(frozen=True, slots=True)
class FlushDue:
    """The flush timer fired: emit the snapshot if anything changed since the last one."""


Event = Views | Registered | FlushDue


@dataclass(frozen=True, slots=True)
class MovieState:
    movie_id: str
    view_count: int = 0
    watch_seconds: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    title: str | None = None
    year: int | None = None
    genre: str | None = None
    # When the registration in title/year/genre happened: the later one wins, whatever the arrival order.
    registered_ms: int | None = None
    version: int = 0
    # A change is held back until the flush timer fires, so Postgres sees one snapshot per movie per interval.
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    movie_id: str
    title: str | None
    year: int | None
    genre: str | None
    view_count: int
    watch_seconds: int
    first_ms: int | None
    last_ms: int | None
    version: int


@dataclass(frozen=True, slots=True)
class ScheduleFlush:
    """The first change after a snapshot: the adapter flushes it at once (`FlushDue`) when the movie's last
    snapshot left more than an interval ago (`RecentFlushes`), else asks for a flush timer."""


Output = Snapshot | ScheduleFlush


def apply(state: MovieState, event: Event) -> tuple[MovieState, tuple[Output, ...]]:
    if isinstance(event, FlushDue):
        if not state.pending:
            return state, ()
        flushed = replace(state, pending=False)
        return flushed, (snapshot_of(flushed),)
    changed = _views(state, event) if isinstance(event, Views) else _registered(state, event)
    outputs: tuple[Output, ...] = () if state.pending else (ScheduleFlush(),)
    return changed, outputs


def _views(state: MovieState, event: Views) -> MovieState:
    # Built field by field, not with `replace()`: this runs once per view and replace() costs ~3x more.
    first, last = state.first_ms, state.last_ms
    view_count = state.view_count + event.count
    watch_seconds = state.watch_seconds + event.watch_seconds
    version = state.version + event.count
    if not (
        LONG_MIN <= view_count <= LONG_MAX
        and LONG_MIN <= watch_seconds <= LONG_MAX
        and LONG_MIN <= version <= LONG_MAX
    ):
        raise OverflowError(
            f"{event.count} views, {event.watch_seconds} s take movie {state.movie_id!r} past 64 bits "
            f"(view_count {view_count}, watch_seconds {watch_seconds}, version {version})"
        )
    return MovieState(
        state.movie_id,
        view_count,
        watch_seconds,
        event.first_ms if first is None or event.first_ms < first else first,
        event.last_ms if last is None or event.last_ms > last else last,
        state.title,
        state.year,
        state.genre,
        state.registered_ms,
        version,
        True,
    )


def _registered(state: MovieState, event: Registered) -> MovieState:
    counted = replace(state, version=state.version + 1, pending=True)
    if state.registered_ms is not None and state.registered_ms > event.occurred_ms:
        return counted
    return replace(
        counted, title=event.title, year=event.year, genre=event.genre, registered_ms=event.occurred_ms
    )


def snapshot_of(state: MovieState) -> Snapshot:
    return Snapshot(
        movie_id=state.movie_id,
        title=state.title,
        year=state.year,
        genre=state.genre,
        view_count=state.view_count,
        watch_seconds=state.watch_seconds,
        first_ms=state.first_ms,
        last_ms=state.last_ms,
        version=state.version,
    )


class RecentFlushes:
    """The movies whose snapshot left within the last flush interval, with when: a change to one of them is
    held back until an interval after that snapshot (its flush timer), a change to any other leaves at once
    (the leading edge of the coalescing). So a movie still gets at most one snapshot per interval, an idle
    movie's first view is not delayed by it, and a movie touched once (a million movies, one view each) costs
    no timer: a timer is a Python call per movie, four of six jstack samples of the keyed function's thread at
    1,000 movies (stream/DEDUP.md).

    Two generations of at least an interval each, rotated at the calls: a movie flushed less than an interval
    ago is in one of them. Memory is bounded by the movies flushed in two intervals. Each keeps its flush
    time, so a held change waits only for the rest of the interval: with sets of movies instead, a movie was
    held up to two intervals after its flush and then for a whole interval more, which `bench freshness` shows
    (docs/PERFORMANCE.md, "A held snapshot waits only for the rest of its interval"). Not in the checkpoint:
    after a restore a movie's first change leaves at once, and a second snapshot within an interval is
    harmless (absolute and versioned)."""

    __slots__ = ("_current", "_interval_ms", "_previous", "_since_ms")

    def __init__(self, interval_ms: int) -> None:
        self._interval_ms = interval_ms
        self._current: dict[str, int] = {}
        self._previous: dict[str, int] = {}
        self._since_ms = 0

    def _rotate(self, now_ms: int) -> None:
        age = now_ms - self._since_ms
        if age >= self._interval_ms:
            self._previous = self._current if age < 2 * self._interval_ms else {}
            self._current = {}
            self._since_ms = now_ms

    def held_until(self, movie_id: str, now_ms: int) -> int | None:
        """When the movie may flush again, if its last snapshot left less than an interval before `now_ms`;
        None when it may flush at once."""
        self._rotate(now_ms)
        last = self._current.get(movie_id)
        if last is None:
            last = self._previous.get(movie_id)
        if last is None or now_ms - last >= self._interval_ms:
            return None
        return last + self._interval_ms

    def flushed(self, movie_id: str, now_ms: int) -> None:
        self._rotate(now_ms)
        self._current[movie_id] = now_ms

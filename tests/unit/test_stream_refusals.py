"""What a later stage refuses for a row's own data: the rule that tells Postgres' refusals from infrastructure
failures (SqlStates.java, run in one JVM), and the keyed function's refusals, which become dead letters with
the movie's state left as it was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pyflink.common import Row

from deploy.cli.dlq import replay
from deploy.jars import build_stream_jar
from deploy.settings import Settings
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.functions import DEAD_LETTERS, MovieStats
from stream.taskmanager.rows import VIEWS
from stream.taskmanager.state import LONG_MAX, MovieState, Views, apply
from stream.taskmanager.trending import MINUTE_MS, Trend, add_views

# SQLSTATE -> what the sink makes of it ("-": an SQLException without one, as pgjdbc raises for I/O).
STATES = {
    "22021": "data",  # invalid byte sequence: a NUL in a movie id
    "22003": "data",  # numeric value out of range
    "22008": "data",  # datetime field overflow: a timestamp past Postgres' range
    "23502": "data",  # not null violation
    "08006": "infrastructure",  # connection failure
    "08001": "infrastructure",  # unable to connect
    "53300": "infrastructure",  # too many connections
    "57P01": "infrastructure",  # admin shutdown
    "40P01": "infrastructure",  # deadlock
    "40001": "infrastructure",  # serialization failure
    "42501": "infrastructure",  # insufficient privilege
    "-": "infrastructure",
}


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = tmp_path_factory.mktemp("jvm") / "movieviews-stream.jar"
    build_stream_jar(built)
    return built


def test_only_data_exceptions_and_integrity_violations_count_as_the_rows_own_data(jar: Path) -> None:
    proc = subprocess.run(
        ["java", "-cp", str(jar), "movieviews.stream.SqlStates"],
        input="".join(f"{state}\n" for state in STATES),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert dict(zip(STATES, proc.stdout.splitlines(), strict=True)) == STATES


def test_views_that_take_a_total_past_64_bits_are_refused_by_apply() -> None:
    state, _ = apply(MovieState("m1"), Views("m1", 1, 60, 1_000, 1_000))
    with pytest.raises(OverflowError, match="'m1' past 64 bits"):
        apply(state, Views("m1", LONG_MAX, 0, 1_000, 1_000))
    with pytest.raises(OverflowError, match="watch_seconds"):
        apply(state, Views("m1", 1, LONG_MAX, 1_000, 1_000))


def test_a_minute_whose_window_timer_is_past_64_bits_is_refused_by_add_views() -> None:
    far = LONG_MAX // MINUTE_MS - 10
    with pytest.raises(OverflowError, match="past 64 bits"):
        add_views(Trend(), MapState(), 0, [(far, 1)])


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class Group:
    """Flink's metric group: counters by path ("movieviews/reason/refused-by-state/dead_letters_total")."""

    def __init__(self, counters: dict[str, Counter], path: str = "") -> None:
        self.counters, self.path = counters, path

    def add_group(self, *names: str) -> Group:
        return Group(self.counters, "/".join(filter(None, (self.path, *names))))

    def counter(self, name: str) -> Counter:
        return self.counters.setdefault(f"{self.path}/{name}", Counter())


class ValueState:
    def __init__(self) -> None:
        self.row: Row | None = None
        self.updates = 0

    def value(self) -> Row | None:
        return self.row

    def update(self, row: Row) -> None:
        self.row, self.updates = row, self.updates + 1


class MapState(dict[int, int]):
    def put(self, key: int, value: int) -> None:
        self[key] = value

    def remove(self, key: int) -> None:
        del self[key]


class Timers:
    def __init__(self) -> None:
        self.registered: list[int] = []

    def current_watermark(self) -> int:
        return 0

    def register_event_time_timer(self, at: int) -> None:
        self.registered.append(at)

    def register_processing_time_timer(self, at: int) -> None:
        self.registered.append(at)


class Context:
    def __init__(self, key: str) -> None:
        self.key, self.timers = key, Timers()

    def get_current_key(self) -> str:
        return self.key

    def timer_service(self) -> Timers:
        return self.timers


class Runtime:
    def __init__(self) -> None:
        self.state, self.minutes = ValueState(), MapState()
        self.counters: dict[str, Counter] = {}

    def get_state(self, _descriptor: Any) -> ValueState:
        return self.state

    def get_map_state(self, _descriptor: Any) -> MapState:
        return self.minutes

    def get_metrics_group(self) -> Group:
        return Group(self.counters)


REFUSED_COUNTER = "movieviews/reason/refused-by-state/dead_letters_total"


def views_row(movie: str, count: int, watched: int = 0, minutes: str = "1:1") -> Row:
    return Row(movie, VIEWS, count, watched, 60_000, 60_000, None, None, None, minutes)


def movie_stats(trending: bool) -> tuple[MovieStats, Runtime]:
    function, runtime = MovieStats(1_000, trending), Runtime()
    function.open(runtime)
    return function, runtime


def assert_refused(function: MovieStats, runtime: Runtime, hostile: Row, error: str) -> None:
    """`hostile` leaves as a dead letter, and the movie's state (two views before it) stays as it was."""
    list(function.process_element(views_row("m1", 2, watched=30), Context("m1")))
    before, updates = runtime.state.row, runtime.state.updates

    out = list(function.process_element(hostile, Context("m1")))

    assert [tag for tag, _ in out] == [DEAD_LETTERS]
    letter = DeadLetter.from_json(out[0][1])
    assert (letter.reason, letter.source_topic, letter.partition, letter.offset) == (
        "refused-by-state",
        "movie-stats",
        -1,
        -1,
    )
    assert letter.detail.startswith(f'movie_id "m1": {error}: ')
    assert json.loads(letter.payload) == list(hostile)
    assert not letter.replayable
    assert (runtime.state.row, runtime.state.updates) == (before, updates)
    assert runtime.counters[REFUSED_COUNTER].count == 1

    # The movie counts on from where it was.
    list(function.process_element(views_row("m1", 3), Context("m1")))
    assert runtime.state.row is not None and runtime.state.row[0] == 5


@pytest.mark.parametrize("trending", [False, True], ids=["plain", "trending"])
@pytest.mark.parametrize(
    ("hostile", "error"),
    [
        (views_row("m1", LONG_MAX), "OverflowError"),
        (views_row("m1", 1, minutes="one:1"), "ValueError"),
        (views_row("m1", None), "TypeError"),  # type: ignore[arg-type]
    ],
    ids=["count-past-64-bits", "malformed-minutes", "null-count"],
)
def test_a_row_the_state_refuses_is_a_dead_letter_and_leaves_the_state_as_it_was(
    trending: bool, hostile: Row, error: str
) -> None:
    assert_refused(*movie_stats(trending), hostile, error)


def test_a_view_whose_minute_puts_a_window_timer_past_64_bits_is_a_dead_letter_and_registers_no_timer() -> (
    None
):
    function, runtime = movie_stats(trending=True)
    assert_refused(
        function, runtime, views_row("m1", 1, minutes=f"{LONG_MAX // MINUTE_MS}:1"), "OverflowError"
    )
    assert dict(runtime.minutes) == {}


def test_replay_leaves_a_refused_row_alone_for_it_is_no_event(capsys: pytest.CaptureFixture[str]) -> None:
    row = DeadLetter.of(
        "refused-by-postgres", "SQLSTATE 22021", ("postgres-upsert", -1, -1), b'["a\\u0000b"]'
    )

    assert replay(Settings.from_env({}), [row]) == 0  # nothing to publish: no broker is asked

    assert capsys.readouterr().out == "left 1 refused rows alone: not events (source postgres-upsert)\n"

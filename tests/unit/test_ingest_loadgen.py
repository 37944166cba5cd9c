from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_ingest_publisher import FakeProducer  # tests/unit is on sys.path (rootdir-relative imports)

import ingest.publisher as publisher_module
from deploy.cli import main
from deploy.settings import Settings
from ingest import loadgen
from ingest.loadgen import LoadResult, Progress, generate, movie_ids, table_bits, zipf_table
from schemas.catalog import Catalog
from schemas.codec import decode

SETTINGS = Settings.from_env({})


class FailingProducer(FakeProducer):
    """Rejects every event of movie m-02."""

    def poll(self, timeout: float = 0) -> int:
        served, self.pending = self.pending, []
        for message, callback in served:
            if callback is not None:
                callback("Broker: Message timed out" if message.key() == b"m-02" else None, message)
        return len(served)


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.instances = []
    monkeypatch.setattr(publisher_module, "Producer", FakeProducer)
    monkeypatch.setattr(publisher_module, "ensure_topics", lambda kafka, specs, timeout_s: [])
    return FakeProducer


def test_movie_ids_are_zero_padded_to_the_width_of_the_count() -> None:
    assert movie_ids(1000)[:2] == ["m-0001", "m-0002"] and movie_ids(1000)[-1] == "m-1000"
    assert movie_ids(9, prefix="x") == [f"x{n}" for n in range(1, 10)]


def test_zipf_table_follows_one_over_rank_to_the_s() -> None:
    counts = Counter(zipf_table(100, 1.0, bits=16))
    assert counts[0] / counts[1] == pytest.approx(2, rel=0.01)
    assert counts[0] / counts[9] == pytest.approx(10, rel=0.02)
    assert set(counts) == set(range(100))


def test_a_uniform_draw_over_more_movies_than_2_to_the_20_can_reach_every_movie() -> None:
    count = (1 << 20) + 5
    table = zipf_table(count, 0.0, table_bits(count))
    assert len(table) == 1 << 21 and set(table) == set(range(count))
    assert table_bits(1000) == 20 and table_bits(1 << 24) == 24


def test_generate_counts_only_acknowledged_events(fake_kafka: type[FakeProducer], tmp_path: Path) -> None:
    progress: list[Progress] = []
    result = generate(SETTINGS, events=20_000, movies=50, v2_share=0.25, seed=7, on_progress=progress.append)
    assert result.sent == result.acknowledged == sum(result.per_movie.values()) == 20_000
    assert result.failed == 0 and result.topic == SETTINGS.views_topic
    assert result.per_movie["m-01"] > result.per_movie["m-02"] > result.per_movie["m-50"]
    assert progress[-1].final and progress[-1].acknowledged == 20_000
    producer = fake_kafka.instances[0]
    events = [m for m in producer.messages if m.topic() == SETTINGS.views_topic]
    catalog = Catalog.bundled()
    decoded = [decode(catalog, m.value(), logical=False) for m in events]
    assert Counter(d.record["movie_id"] for d in decoded) == Counter(result.per_movie)
    assert all(m.key().decode() == d.record["movie_id"] for m, d in zip(events, decoded, strict=True))
    v2 = catalog.version("movieviews.events.MovieViewed", 2).fingerprint
    v2_count = sum(d.fingerprint == v2 for d in decoded)
    assert v2_count == result.sent_v2 and 0.2 < v2_count / 20_000 < 0.3
    assert len({d.record["event_id"] for d in decoded}) == 20_000
    schema_keys = {m.key() for m in producer.messages if m.topic() == SETTINGS.schemas_topic}
    assert schema_keys == {
        catalog.version("movieviews.events.MovieViewed", v).fingerprint.hex() for v in (1, 2)
    }


def test_the_same_seed_draws_the_same_popularity(fake_kafka: type[FakeProducer]) -> None:
    first = generate(SETTINGS, events=5_000, movies=30, seed=3)
    assert generate(SETTINGS, events=5_000, movies=30, seed=3).per_movie == first.per_movie


def test_movies_in_turn_view_every_movie_once_before_any_twice(fake_kafka: type[FakeProducer]) -> None:
    once = generate(SETTINGS, events=30, movies=30, in_turn=True).per_movie
    assert once == {movie: 1 for movie in movie_ids(30)}
    again = generate(SETTINGS, events=45, movies=30, in_turn=True).per_movie
    assert again == {movie: 2 if n < 15 else 1 for n, movie in enumerate(movie_ids(30))}


def test_failed_events_are_not_in_the_truth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher_module, "Producer", FailingProducer)
    monkeypatch.setattr(publisher_module, "ensure_topics", lambda kafka, specs, timeout_s: [])
    result = generate(SETTINGS, events=10_000, movies=20, seed=1)
    assert "m-02" not in result.per_movie
    assert result.failed > 0 and result.acknowledged == result.sent - result.failed == sum(
        result.per_movie.values()
    )


class PacingClock:
    """The generator's clock, moved only by its own pacing sleeps (so no machine's speed shows); notes how
    many views had been sent at each tick."""

    def __init__(self, sent: Callable[[], int]) -> None:
        self.now, self.sent = 0.0, sent
        self.ticks: list[tuple[float, int]] = []

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_800_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.ticks.append((self.now, self.sent()))
        self.now += seconds


def test_rate_mode_sends_on_schedule_never_ahead_of_it(
    fake_kafka: type[FakeProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def views_sent() -> int:
        return sum(m.topic() == SETTINGS.views_topic for p in fake_kafka.instances for m in p.messages)

    clock = PacingClock(views_sent)
    monkeypatch.setattr(loadgen, "time", clock)
    result = generate(SETTINGS, rate=2_000, seconds=0.5, movies=10)
    assert result.sent == views_sent() == 1_000
    # At every tick, exactly what is due by then: the first view at 0 s and 2,000 a second since.
    assert len(clock.ticks) >= 50 and all(sent == int(2_000 * t) + 1 for t, sent in clock.ticks)
    # The last view is due at 999 / 2,000 s; it goes at the first tick from then.
    assert 0.4995 <= result.elapsed_s < 0.4995 + loadgen.TICK_S


def test_truth_file_format(tmp_path: Path) -> None:
    result = LoadResult("movie-views", 3, 2, 1, 1.0, {"m-1": 2})
    path = result.write_truth(tmp_path / "truth" / "t.json")
    assert json.loads(path.read_text()) == {
        "topic": "movie-views",
        "acknowledged": 2,
        "per_movie": {"m-1": 2},
    }


def produce(settings: Settings, *argv: str) -> int:
    return main(["produce", *argv], settings)


def test_cli_writes_the_truth_and_a_summary(
    fake_kafka: type[FakeProducer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"MOVIEVIEWS_HOME": str(tmp_path)})
    assert produce(settings, "--events", "1000", "--movies", "5", "--topic", "t") == 0
    out = capsys.readouterr().out
    assert "sent 1,000  acknowledged 1,000  failed 0" in out
    (truth,) = (tmp_path / "truth").glob("produce-*.json")
    data: dict[str, Any] = json.loads(truth.read_text())
    assert (
        data["topic"] == "t" and data["acknowledged"] == 1000 and set(data["per_movie"]) <= set(movie_ids(5))
    )


@pytest.mark.parametrize("argv", [("--rate", "10"), ("--events", "5", "--v2-share", "2")])
def test_cli_rejects_bad_arguments(argv: tuple[str, ...]) -> None:
    assert produce(SETTINGS, *argv) == 2


def test_cli_needs_events_or_rate() -> None:
    with pytest.raises(SystemExit):
        produce(SETTINGS, "--movies", "3")

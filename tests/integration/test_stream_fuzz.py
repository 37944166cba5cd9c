"""Property test of the stream job: Avro-valid events carrying any Unicode and any number an outside producer
can write, published raw to Kafka between good views and run through one real job. The job never restarts,
and every published record is either counted or dead-lettered (with its topic, partition and offset), never
both, never neither; which values the pipeline refuses is read from the dead letters it actually produced."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from support.events import EPOCH_MS

from deploy.settings import Settings
from deploy.wait import wait_until
from schemas import fields
from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import REGISTERED, VIEWED
from stream import flinkrest
from stream.taskmanager.deadletters import DeadLetter

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
# C0, DEL and C1: every control character.
CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]
# The explicit directional formatting characters (embeddings, overrides, isolates) and the marks.
BIDI = ["\u200e", "\u200f", "\u061c", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
NON_BMP = ["\U00010000", "\U0001f3ac", "\U0001d54f", "\U000e0041", "\U0010fffd"]
BLANK = ["", " ", "\t", " \n ", "\u00a0", "\u3000", "\u2028"]
# At the length bounds of `schemas.fields` and one past, in one-byte and in four-byte characters; and a
# string not in NFC (an e and a combining acute accent).
BOUNDS = [
    c * n
    for c in ("x", "\U0001f3ac")
    for n in (fields.ID_MAX_CHARS, fields.ID_MAX_CHARS + 1, fields.TEXT_MAX_CHARS, fields.TEXT_MAX_CHARS + 1)
]
NOT_NFC = "cafe\u0301"
# The good views' movies; hostile events use them too, so a refusal must not stop a movie's other views.
PLAIN = ["m-0", "m-1", "m-2"]
# Job start on the cluster (~20-30 s) and a batch of a few hundred events, with room for a loaded machine.
SETTLE_S = 180

# st.text() draws from all of Unicode except the surrogates (a lone one cannot be encoded as UTF-8).
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from([*CONTROLS, *BIDI, *NON_BMP, " ", "a"]), max_size=12),
    st.sampled_from([*BLANK, *CONTROLS, *BIDI, *NON_BMP, *BOUNDS, NOT_NFC]),
)
movie_ids = st.one_of(st.sampled_from(PLAIN), hostile_text)
optional_text = st.none() | hostile_text
longs = st.sampled_from([LONG_MIN, LONG_MAX, -1, 0, EPOCH_MS]) | st.integers(LONG_MIN, LONG_MAX)
ints = st.sampled_from([INT_MIN, INT_MAX, -1, 0]) | st.integers(INT_MIN, INT_MAX)


@dataclass(frozen=True)
class Event:
    """A record as an outside producer writes it, without its event_id (fresh at each publication: the job
    counts an event_id once, stream/DEDUP.md)."""

    subject: str
    version: int
    fields: dict[str, Any]

    @property
    def movie_id(self) -> str:
        return str(self.fields["movie_id"])


def view(movie_id: str, occurred_at: int, user_id: str | None = None) -> Event:
    return Event(VIEWED, 1, {"movie_id": movie_id, "user_id": user_id, "occurred_at": occurred_at})


views_v1 = st.builds(view, movie_ids, longs, optional_text)
views_v2 = st.builds(
    lambda movie_id, user_id, occurred_at, device, country, watch_seconds: Event(
        VIEWED,
        2,
        {
            "movie_id": movie_id,
            "user_id": user_id,
            "occurred_at": occurred_at,
            "device": device,
            "country": country,
            "watch_seconds": watch_seconds,
        },
    ),
    movie_ids,
    optional_text,
    longs,
    optional_text,
    optional_text,
    st.none() | ints,
)
registrations = st.builds(
    lambda movie_id, title, year, genre, occurred_at: Event(
        REGISTERED,
        1,
        {"movie_id": movie_id, "title": title, "year": year, "genre": genre, "occurred_at": occurred_at},
    ),
    movie_ids,
    hostile_text,
    ints,
    hostile_text,
    longs,
)
events = st.one_of(views_v1, views_v2, registrations)


def registration(movie_id: str, title: str = "t", year: int = 2000, occurred_at: int = EPOCH_MS) -> Event:
    fields = {"movie_id": movie_id, "title": title, "year": year, "genre": "g", "occurred_at": occurred_at}
    return Event(REGISTERED, 1, fields)


def v2_view(movie_id: str, watch_seconds: int) -> Event:
    fields = {"movie_id": movie_id, "user_id": None, "occurred_at": EPOCH_MS, "device": None, "country": None}
    return Event(VIEWED, 2, {**fields, "watch_seconds": watch_seconds})


# Every class of hostile value at least once, whatever Hypothesis draws.
CATALOGUE = [
    *(view(f"m{c}x", EPOCH_MS) for c in [*CONTROLS, *BIDI, *NON_BMP]),
    *(view(blank, EPOCH_MS) for blank in BLANK),
    *(view(long_id, EPOCH_MS) for long_id in BOUNDS),
    view(NOT_NFC, EPOCH_MS),
    view("m-0", LONG_MIN),
    view("m-1", LONG_MAX),
    view("m-2", EPOCH_MS, user_id="u\x00\u202e"),
    v2_view("m-0", -1),
    v2_view("m-1", INT_MIN),
    v2_view("m-2", INT_MAX),
    registration("m-0", year=INT_MIN),
    registration("m-1", year=INT_MAX),
    registration("m-2", title="a\x00b"),
    registration("m-\u202e", title="\u202etitle"),
    *(registration(f"m-title-{len(title)}", title=title) for title in BOUNDS),
]


@dataclass(frozen=True)
class Published:
    event: Event
    topic: str
    partition: int
    offset: int


class Ledger:
    """Everything one job was sent and what it made of it, across every example of the test."""

    def __init__(self, settings: Settings, job_id: str, dead_letters: Consumer) -> None:
        self.settings = settings
        self.job_id = job_id
        self.dead_letters = dead_letters
        self.catalog = Catalog.bundled()
        self.published: dict[tuple[str, int, int], Published] = {}
        self.letters: list[DeadLetter] = []
        # Restarts before every task runs are the cluster's (no free slot yet), not a record's.
        wait_until(
            lambda: flinkrest.tasks_running(settings, job_id), 120, f"every task of job {job_id} running"
        )
        self.restarts_before = self.restarts()

    # Hypothesis prints a failing example's arguments: the job, not the settings with their passwords.
    def __repr__(self) -> str:
        return f"Ledger(job {self.job_id}, {len(self.published)} published, {len(self.letters)} dead letters)"

    def publish(self, batch: list[Event]) -> None:
        """Each event encoded with the project's codec, as any producer that reaches the broker may write it
        (the ingest publisher would refuse what the pipeline refuses), a good view after each."""
        producer = Producer({"bootstrap.servers": self.settings.kafka_bootstrap, "enable.idempotence": True})

        def delivered(event: Event) -> Any:
            def report(error: KafkaError | None, message: Message) -> None:
                assert error is None, f"{event} not acknowledged: {error}"
                position = (str(message.topic()), int(message.partition() or 0), int(message.offset() or 0))
                self.published[position] = Published(event, *position)

            return report

        for i, hostile in enumerate(batch):
            for event in (hostile, view(PLAIN[i % len(PLAIN)], EPOCH_MS + i)):
                record = {"event_id": str(uuid.uuid4()), **event.fields}
                payload = encode(self.catalog, event.subject, record, version=event.version)
                topic = self.settings.views_topic if event.subject == VIEWED else self.settings.movies_topic
                producer.produce(topic, payload, event.movie_id.encode(), on_delivery=delivered(event))
                producer.poll(0)
        assert producer.flush(60) == 0, "events unacknowledged"

    def read_dead_letters(self) -> None:
        for message in self.dead_letters.consume(1000, 0.5):
            if message.error() is None:
                self.letters.append(DeadLetter.from_json(message.value() or b""))

    def refused(self) -> set[tuple[str, int, int]]:
        return {(letter.source_topic, letter.partition, letter.offset) for letter in self.letters}

    def expected_counts(self) -> dict[str, int]:
        refused = self.refused()
        counts = Counter(
            p.event.movie_id
            for position, p in self.published.items()
            if p.event.subject == VIEWED and position not in refused
        )
        return dict(counts)

    def expected_registrations(self) -> dict[str, tuple[str, int, str]]:
        """Per movie, the registration the state keeps: the latest occurred_at, the later record on a tie
        (one movie's records share a partition, so offsets order them)."""
        refused = self.refused()
        kept: dict[str, Published] = {}
        for position in sorted(self.published):
            p = self.published[position]
            if p.event.subject != REGISTERED or position in refused:
                continue
            held = kept.get(p.event.movie_id)
            if held is None or p.event.fields["occurred_at"] >= held.event.fields["occurred_at"]:
                kept[p.event.movie_id] = p
        return {
            m: (p.event.fields["title"], p.event.fields["year"], p.event.fields["genre"])
            for m, p in kept.items()
        }

    def stored(self) -> tuple[dict[str, int], dict[str, tuple[str, int, str]]]:
        with psycopg.connect(self.settings.writer_dsn) as conn:
            rows = conn.execute("SELECT movie_id, view_count, title, year, genre FROM movie_stats").fetchall()
        counts = {movie: count for movie, count, *_ in rows if count > 0}
        registered = {
            movie: (title, year, genre) for movie, _, title, year, genre in rows if title is not None
        }
        return counts, registered

    def settled(self) -> bool:
        """Every view counted or dead-lettered, and every registration kept or dead-lettered, at least."""
        self.read_dead_letters()
        counts, registered = self.stored()
        views = sum(1 for p in self.published.values() if p.event.subject == VIEWED)
        refused_views = sum(1 for topic, _, _ in self.refused() if topic == self.settings.views_topic)
        return (
            sum(counts.values()) + refused_views >= views
            and registered.keys() >= self.expected_registrations().keys()
        )

    def check(self) -> None:
        positions = [(letter.source_topic, letter.partition, letter.offset) for letter in self.letters]
        twice = [position for position, n in Counter(positions).items() if n > 1]
        assert not twice, f"dead-lettered more than once: {twice}"
        # A later stage (the sink, the keyed function) names itself and offset -1: the record it came from is
        # unknown, so its views are neither counted nor dead-lettered as themselves.
        unknown = [
            (letter.reason, letter.source_topic, letter.offset, letter.detail[:300])
            for letter, position in zip(self.letters, positions, strict=True)
            if position not in self.published
        ]
        assert not unknown, f"dead letters naming no published record: {unknown}"
        counts, registered = self.stored()
        expected = self.expected_counts()
        wrong = {
            m: (counts.get(m), expected.get(m))
            for m in counts.keys() | expected.keys()
            if counts.get(m) != expected.get(m)
        }
        assert not wrong, f"views neither counted nor dead-lettered, or both (stored, expected): {wrong}"
        assert registered == self.expected_registrations()
        assert flinkrest.job_state(self.settings, self.job_id) == flinkrest.JobState.RUNNING
        assert self.restarts() == self.restarts_before, "the job restarted"

    def restarts(self) -> float:
        # The JobManager's REST metrics are fetched from the job lazily: the first ask may find none yet.
        found: dict[str, float] = {}

        def reported() -> bool:
            found.update(flinkrest.job_metrics(self.settings, self.job_id, ["numRestarts"]))
            return bool(found)

        wait_until(reported, 30, f"numRestarts of job {self.job_id}")
        return found["numRestarts"]


@pytest.fixture
def ledger(isolated: Settings, job: str) -> Iterator[Ledger]:
    consumer = Consumer(
        {
            "bootstrap.servers": isolated.kafka_bootstrap,
            "group.id": uuid.uuid4().hex,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(isolated.dlq_topic, 0, 0)])
    yield Ledger(isolated, job, consumer)
    consumer.close()


# One job takes every example, so a batch's effect accumulates on what the earlier ones left. Few examples of
# a few hundred records each: each costs a round trip through the job. No shrinking: a failed example is
# reported whole, with the records at fault named by the assertion, instead of re-run dozens of times.
@settings(
    max_examples=6,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@example(batch=CATALOGUE)
@given(batch=st.lists(events, min_size=50, max_size=120))
def test_every_hostile_record_is_counted_or_dead_lettered_once_and_the_job_never_restarts(
    ledger: Ledger, batch: list[Event]
) -> None:
    ledger.publish(batch)
    try:
        wait_until(ledger.settled, SETTLE_S, "every record counted or dead-lettered", interval_s=0.5)
    finally:
        ledger.check()

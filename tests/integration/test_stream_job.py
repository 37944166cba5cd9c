"""The stream job on the real stack: exact per-movie counts in Postgres, dead letters, the guarded upsert."""

from __future__ import annotations

import base64
import json
from collections import Counter

import psycopg
from readmodel_fixtures import batch
from support.events import EPOCH_MS, registration_record, view_payload, view_record

from deploy.settings import Settings
from deploy.testing import read_from_start, stored_counts, wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import generate
from ingest.publisher import publish_raw
from schemas.catalog import Catalog
from schemas.codec import decode, encode
from schemas.subjects import REGISTERED, VIEWED
from schemas.wire import MAGIC
from stream import flinkrest
from stream.upsert import UPSERT_SQL

# Job start on the cluster (~20-30 s) plus 100k events at ~10k/s, with room for a slow CI machine.
DEADLINE_S = 240


def writer_conninfo(settings: Settings) -> str:
    return settings.writer_dsn


def registered(settings: Settings, movie_id: str) -> tuple[object, ...] | None:
    query = "SELECT title, year, genre FROM movie_stats WHERE movie_id = %s"
    with psycopg.connect(writer_conninfo(settings)) as conn:
        return conn.execute(query, (movie_id,)).fetchone()


def test_zipf_views_end_as_exact_counts_for_every_movie(isolated: Settings, job: str) -> None:
    truth = generate(isolated, events=100_000, movies=1_000, seed=7).per_movie
    wait_for_counts(isolated, truth, DEADLINE_S)


def test_poison_pills_go_to_the_dead_letter_topic_and_good_counts_stay_exact(
    isolated: Settings, job: str
) -> None:
    catalog = Catalog.bundled()
    good = [f"movie-{i % 7}" for i in range(700)]
    poison = {
        "undecodable": b"\x00not avro",
        "unknown-schema": MAGIC + bytes(range(8)) + b"\x02",
        "empty-movie-id": encode(catalog, VIEWED, view_record(""), version=1),
    }
    messages = [(movie, view_payload(catalog, movie, EPOCH_MS + i)) for i, movie in enumerate(good)]
    for index, payload in enumerate(poison.values()):
        messages.insert(100 * (index + 1), ("poison", payload))
    publish_raw(isolated.kafka_admin, isolated.views_topic, messages)
    publish_raw(
        isolated.kafka_admin,
        isolated.movies_topic,
        [("movie-0", encode(catalog, REGISTERED, registration_record("movie-0")))],
    )

    wait_for_counts(isolated, dict(Counter(good)), DEADLINE_S)
    letters = [
        json.loads(message.value() or b"")
        for message in read_from_start(isolated.kafka_admin, isolated.dlq_topic, len(poison), 60)
    ]
    assert {letter["reason"]: base64.b64decode(str(letter["payload_b64"])) for letter in letters} == poison
    assert all(letter["source_topic"] == isolated.views_topic for letter in letters)
    assert all(
        isinstance(letter["offset"], int) and isinstance(letter["partition"], int) for letter in letters
    )
    wait_until(lambda: flinkrest.dead_letters(isolated, job) == len(poison), 30, "dead-letter metric")
    # The registration comes on its own topic and may land a batch after the views' exact counts.
    wait_until(lambda: registered(isolated, "movie-0") == ("Alien", 1979, "sci-fi"), 30, "registration")


def test_an_older_snapshot_leaves_the_row_unchanged(isolated: Settings, job: str) -> None:
    truth = generate(isolated, events=500, movies=5, seed=7).per_movie
    wait_for_counts(isolated, truth, DEADLINE_S)
    movie = max(truth, key=truth.__getitem__)
    query = "SELECT view_count, version, last_viewed_at, updated_at FROM movie_stats WHERE movie_id = %s"
    with psycopg.connect(writer_conninfo(isolated), autocommit=True) as conn:
        before = conn.execute(query, (movie,)).fetchone()
        assert before is not None and before[1] == truth[movie]
        stale = (movie, None, None, None, 1, 0, EPOCH_MS, EPOCH_MS, before[1] - 1)
        same = (*stale[:-1], before[1])
        for replayed in (stale, same):
            cursor = conn.execute(UPSERT_SQL.replace("?", "%s"), batch(replayed))
            assert cursor.rowcount == 0
        assert conn.execute(query, (movie,)).fetchone() == before
    assert stored_counts(isolated) == truth


def test_each_event_id_counts_once_however_often_and_however_encoded_it_arrives(
    isolated: Settings, job: str
) -> None:
    catalog = Catalog.bundled()
    movies = [f"movie-{i % 9}" for i in range(450)]
    firsts = [(movie, view_payload(catalog, movie, EPOCH_MS + i)) for i, movie in enumerate(movies)]
    publish_raw(isolated.kafka_admin, isolated.views_topic, firsts)
    truth = dict(Counter(movies))
    wait_for_counts(isolated, truth, DEADLINE_S)

    # Applied already: the same bytes twice more (a producer resend, a batch published twice), and each id
    # written again by the v2 writer a minute later (a client retry through another code path).
    def retried(payload: bytes) -> bytes:
        record = decode(catalog, payload, logical=False).record
        again = {**record, "occurred_at": record["occurred_at"] + 60_000, "watch_seconds": 5}
        return encode(catalog, VIEWED, again, version=2)

    duplicates = firsts + firsts + [(movie, retried(payload)) for movie, payload in firsts]
    # Then one new view per movie, behind its duplicates in its partition: once it counts, they were seen.
    news = [(movie, view_payload(catalog, movie, EPOCH_MS)) for movie in truth]
    publish_raw(isolated.kafka_admin, isolated.views_topic, duplicates + news)
    wait_for_counts(isolated, {movie: count + 1 for movie, count in truth.items()}, DEADLINE_S)

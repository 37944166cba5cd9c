"""A record that decodes but breaks the one definition of a valid field (schemas.fields), published by a
plain producer past every refusing boundary, is dead-lettered as `invalid_field` by the real job: the job
never restarts, and every valid view beside it is counted exactly."""

from __future__ import annotations

import base64
import json
from collections import Counter

from support.events import EPOCH_MS, registration_record, view_payload, view_record

from deploy.settings import Settings
from deploy.testing import read_from_start, wait_for_counts
from deploy.wait import wait_until
from ingest.publisher import publish_raw
from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import REGISTERED, VIEWED
from stream import flinkrest
from stream.errors import InvalidFieldValueError

DEADLINE_S = 240
READ_S = 60


def test_a_view_with_a_nul_in_its_movie_id_is_dead_lettered_and_every_valid_view_is_counted(
    isolated: Settings, job: str
) -> None:
    catalog = Catalog.bundled()
    good = [f"movie-{i % 5}" for i in range(500)]
    # The codec alone: no refusing event builder.
    hostile_view = encode(catalog, VIEWED, view_record("a\x00b"), version=1)
    hostile_registration = encode(catalog, REGISTERED, registration_record("movie-0", title="Ali\x00en"))
    messages = [(movie, view_payload(catalog, movie, EPOCH_MS + i)) for i, movie in enumerate(good)]
    messages.insert(250, ("a\x00b", hostile_view))
    publish_raw(isolated.kafka_admin, isolated.views_topic, messages)
    publish_raw(isolated.kafka_admin, isolated.movies_topic, [("movie-0", hostile_registration)])

    # Exact for every valid movie, and no row for the hostile id (the whole table is compared).
    wait_for_counts(isolated, dict(Counter(good)), DEADLINE_S)
    by_payload = {}
    for message in read_from_start(isolated.kafka_admin, isolated.dlq_topic, 2, READ_S):
        letter = json.loads(message.value() or b"")
        by_payload[base64.b64decode(letter["payload_b64"])] = letter
    sources = {
        message.value(): (topic, message.partition(), message.offset())
        for topic, count in ((isolated.views_topic, len(messages)), (isolated.movies_topic, 1))
        for message in read_from_start(isolated.kafka_admin, topic, count, READ_S)
        if message.value() in (hostile_view, hostile_registration)
    }
    assert set(by_payload) == {hostile_view, hostile_registration}
    for payload, letter in by_payload.items():
        assert letter["reason"] == InvalidFieldValueError.reason == "invalid_field"
        assert (letter["source_topic"], letter["partition"], letter["offset"]) == sources[payload]
    assert "movie_id" in by_payload[hostile_view]["detail"] and "U+0000" in by_payload[hostile_view]["detail"]
    assert "title" in by_payload[hostile_registration]["detail"]
    wait_until(lambda: flinkrest.dead_letters(isolated, job) == 2, 30, "dead-letter metric")
    assert flinkrest.job_metrics(isolated, job, ["numRestarts"]) == {"numRestarts": 0.0}
    assert flinkrest.job_state(isolated, job) == flinkrest.JobState.RUNNING

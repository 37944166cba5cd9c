"""`movieviews dlq`: show counts by reason; replay re-publishes a reason's payloads once, never twice."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer

from deploy.cli import main
from deploy.settings import Settings
from deploy.wait import wait_until
from ingest.publisher import publish_raw
from stream.taskmanager.deadletters import DeadLetter


def source_payloads(settings: Settings, expected: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.views_topic])
    seen: list[bytes] = []

    def drained() -> bool:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen.append(message.value() or b"")
        return len(seen) >= expected

    try:
        wait_until(drained, 30, f"{expected} replayed messages", interval_s=0)
        # Whatever arrives within a few more polls would be a duplicate.
        for _ in range(4):
            drained()
    finally:
        consumer.close()
    return seen


def test_show_counts_reasons_and_lists_recent_letters_then_replay_sends_each_payload_once(
    isolated: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    letters = [
        DeadLetter.of("unknown-schema", "fp 01", (isolated.views_topic, 0, 1), b"\xc3\x01one"),
        DeadLetter.of("undecodable", "bad", (isolated.views_topic, 0, 2), b"junk"),
        DeadLetter.of("unknown-schema", "fp 01", (isolated.views_topic, 1, 7), b"\xc3\x01two"),
    ]
    publish_raw(
        isolated.kafka_admin,
        isolated.dlq_topic,
        [(None, letter.to_json().encode()) for letter in letters],
    )

    views = isolated.views_topic
    counts = [["2", "unknown-schema"], ["1", "undecodable"]]
    assert main(["dlq", "show", "--recent", "5"], isolated) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [
        *counts,
        ["unknown-schema", f"{views}[0]@1", "fp", "01"],
        ["undecodable", f"{views}[0]@2", "bad"],
        ["unknown-schema", f"{views}[1]@7", "fp", "01"],
    ]
    assert main(["dlq", "show", "--recent", "1"], isolated) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [
        *counts,
        ["unknown-schema", f"{views}[1]@7", "fp", "01"],
    ]
    for _ in range(2):
        assert main(["dlq", "replay", "--reason", "unknown-schema"], isolated) == 0
    assert sorted(source_payloads(isolated, 2)) == [b"\xc3\x01one", b"\xc3\x01two"]

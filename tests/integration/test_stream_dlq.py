"""`movieviews dlq`: show counts by reason; replay re-publishes a reason's payloads once, never twice."""

from __future__ import annotations

import pytest

from deploy.cli import main
from deploy.settings import Settings
from deploy.testing import read_from_start
from ingest.publisher import publish_raw
from stream.taskmanager.deadletters import DeadLetter


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
    # Read on for 2 s after the two arrived: a payload replayed twice would be among them.
    replayed = read_from_start(isolated.kafka_admin, isolated.views_topic, 2, 30, settle_s=2)
    assert sorted(message.value() for message in replayed) == [b"\xc3\x01one", b"\xc3\x01two"]

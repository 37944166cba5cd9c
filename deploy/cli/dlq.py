"""`movieviews dlq`: counts by reason and recent entries (`show`); re-publish parked payloads (`replay`)."""

from __future__ import annotations

import argparse
import uuid
from collections import Counter

from confluent_kafka import Consumer, TopicPartition

from deploy.settings import Settings
from ground.kafka import client_config
from ingest.publisher import publish_raw
from stream.taskmanager.deadletters import DeadLetter

# Reading the whole topic stops at its end offsets; a poll this long only waits for the next fetch.
POLL_S = 1.0
RECENT = 10
REPLAY_GROUP = "movieviews-dlq-replay"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(required=True, metavar="ACTION")
    show = sub.add_parser("show", help="counts by reason and the most recent entries")
    show.add_argument("--recent", type=int, default=RECENT)
    replay = sub.add_parser("replay", help="re-publish parked payloads to their source topic")
    replay.add_argument("--reason", required=True, help="e.g. unknown-schema, once the schema is registered")
    show.set_defaults(run=_show)
    replay.set_defaults(run=_replay)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    return show(read(settings, f"dlq-show-{uuid.uuid4()}", commit=False), args.recent)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    # A consumer group per reason remembers what was replayed: a second replay never re-sends a payload
    # (which the job would count twice).
    letters = read(settings, f"{REPLAY_GROUP}-{args.reason}", commit=True)
    return replay(settings, [letter for letter in letters if letter.reason == args.reason])


def read(settings: Settings, group: str, commit: bool) -> list[DeadLetter]:
    """Dead letters from the group's committed offsets (else the start) to the current end of the topic."""
    topic = settings.dlq_topic
    consumer = Consumer(
        client_config(settings.kafka_admin, **{"group.id": group, "enable.auto.commit": False})
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p) for p in metadata.partitions]
        marks = {tp.partition: consumer.get_watermark_offsets(tp, 10) for tp in partitions}
        ends = {p: high for p, (_, high) in marks.items()}
        # Retention may have removed the start of the log: begin at the low watermark at the earliest.
        starts = {
            tp.partition: max(tp.offset, marks[tp.partition][0]) for tp in consumer.committed(partitions, 10)
        }
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends if ends[p] > starts[p]])
        letters: list[DeadLetter] = []
        remaining = sum(ends[p] - starts[p] for p in ends)
        while remaining > 0:
            message = consumer.poll(POLL_S)
            if message is None or message.error() is not None:
                continue
            letters.append(DeadLetter.from_json(message.value() or b""))
            remaining -= 1
        if commit and letters:
            consumer.commit(
                offsets=[TopicPartition(topic, p, end) for p, end in ends.items()], asynchronous=False
            )
        return letters
    finally:
        consumer.close()


def show(letters: list[DeadLetter], recent: int) -> int:
    for reason, count in Counter(letter.reason for letter in letters).most_common():
        print(f"{count:>8}  {reason}")
    for letter in letters[-recent:]:
        where = f"{letter.source_topic}[{letter.partition}]@{letter.offset}"
        print(f"{letter.reason:<16} {where:<32} {letter.detail[:120]}")
    return 0


def replay(settings: Settings, letters: list[DeadLetter]) -> int:
    refused_rows = [letter for letter in letters if not letter.replayable]
    if refused_rows:
        # A row a later stage refused (summed views, not an event): re-publishing it would count nothing.
        print(
            f"left {len(refused_rows)} refused rows alone: not events (source {refused_rows[0].source_topic})"
        )
    by_topic: dict[str, list[tuple[str | None, bytes]]] = {}
    for letter in (letter for letter in letters if letter.replayable):
        # The original key is not kept; counts do not depend on which partition a view arrives on.
        by_topic.setdefault(letter.source_topic, []).append((None, letter.payload))
    for topic, messages in by_topic.items():
        publish_raw(settings.kafka_admin, topic, messages)
        print(f"replayed {len(messages)} to {topic}")
    return 0

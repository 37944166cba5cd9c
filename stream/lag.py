"""How far behind a stream job is: per partition of its topics, the log end minus the position its consumer
group committed. The one owner of that figure: `movieviews status`, the dashboard and the API's /metrics
(and through it the alert rules) all read it here.

The position survives restores. The Kafka source takes its offsets from the checkpoint it restores, and on
each completed checkpoint commits the checkpointed offset of every partition it holds to the job's group,
an idle partition too; a partition it has never read a record of has no offset to commit, so its position
is the log start. Flink's own `currentOffset` metric does not survive: it is -1 until the restored job
reads a record of the partition, which made an idle partition's whole log look unread.

The committed position trails the job's reading by up to a checkpoint interval plus the checkpoint's own
time. Hence the one rule for "the read model is stale": it is older than `FRESHNESS_LIMIT_S` while records
stay uncommitted across `grace_s` (a few checkpoints), not merely while the lag is above zero at one look.
The ReadModelStale alert says the same (rules.yml: `for` spans many checkpoints).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from stream.config import DEFAULT_GROUP_ID, JOB_NAME
from stream.errors import LagError

Partition = tuple[str, int]

# The read model may lag the log by this much while records wait (rules.yml: ReadModelStale).
FRESHNESS_LIMIT_S = 5.0
# Checkpoints a record may stay uncommitted before it counts as waiting: one interval until the checkpoint
# after its read starts, another for a slow one to complete, and one more for the commit that follows.
GRACE_CHECKPOINTS = 3
# A broker answers these in milliseconds; a loaded 2-core machine takes seconds.
TIMEOUT_S = 10.0
# How often `waiting` asks the group's commits again.
POLL_S = 0.5


def group_of(job_name: str) -> str:
    """The job's consumer group: the stack's own job keeps its first group, every other job's is its name
    (a rebuild's `movieviews-v2`, a test's or a drill's job)."""
    return DEFAULT_GROUP_ID if job_name == JOB_NAME else job_name


def grace_s(checkpoint_interval_ms: int) -> float:
    return GRACE_CHECKPOINTS * checkpoint_interval_ms / 1000


@dataclass(frozen=True)
class Positions:
    start: dict[Partition, int]
    end: dict[Partition, int]
    committed: dict[Partition, int]  # only the partitions the group committed an offset for

    def position(self, partition: Partition) -> int:
        return self.committed.get(partition, self.start[partition])

    def lag(self) -> dict[Partition, int]:
        return {p: max(0, end - self.position(p)) for p, end in sorted(self.end.items())}


def positions(
    admin: AdminClient, group: str, topics: Sequence[str], timeout_s: float = TIMEOUT_S
) -> Positions:
    """The log start, log end and `group`'s committed offset of every partition of `topics`."""
    try:
        metadata = admin.list_topics(timeout=timeout_s).topics
        partitions = [(t, p) for t in topics if t in metadata for p in sorted(metadata[t].partitions)]
        if not partitions:
            return Positions({}, {}, {})
        start = _offsets(admin, partitions, OffsetSpec.earliest(), timeout_s)  # type: ignore[no-untyped-call]
        end = _offsets(admin, partitions, OffsetSpec.latest(), timeout_s)  # type: ignore[no-untyped-call]
        return Positions(start, end, committed(admin, group, partitions, timeout_s))
    except KafkaException as exc:
        raise LagError(f"cannot read the positions of group {group!r} on {list(topics)}: {exc}") from exc


def committed(
    admin: AdminClient, group: str, partitions: Sequence[Partition], timeout_s: float = TIMEOUT_S
) -> dict[Partition, int]:
    """`group`'s committed offsets of `partitions`; a partition without one is left out."""
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in partitions])
    answer = admin.list_consumer_group_offsets([request], request_timeout=timeout_s)[group].result(timeout_s)
    # librdkafka answers OFFSET_INVALID (-1001) for a partition the group committed nothing for.
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def waiting(admin: AdminClient, group: str, topics: Sequence[str], grace: float) -> dict[Partition, int]:
    """Per partition, the records in the log now that `group` has still not committed after `grace` seconds
    (returns as soon as every one is): what waits beyond a checkpoint, not what the next one commits."""
    first = positions(admin, group, topics)
    behind = {p: end for p, end in first.end.items() if end > first.position(p)}
    deadline = time.monotonic() + grace
    now: dict[Partition, int] = {}
    while behind and time.monotonic() < deadline:
        time.sleep(POLL_S)
        try:
            now = committed(admin, group, sorted(behind))
        except KafkaException as exc:
            raise LagError(f"cannot read the committed offsets of group {group!r}: {exc}") from exc
        behind = {p: end for p, end in behind.items() if now.get(p, first.position(p)) < end}
    return {p: end - now.get(p, first.position(p)) for p, end in behind.items()}


def _offsets(
    admin: AdminClient, partitions: Sequence[Partition], spec: OffsetSpec, timeout_s: float
) -> dict[Partition, int]:
    futures = admin.list_offsets(
        {TopicPartition(t, p): spec for t, p in partitions}, request_timeout=timeout_s
    )
    return {(tp.topic, tp.partition): f.result(timeout_s).offset for tp, f in futures.items()}

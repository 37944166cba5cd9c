"""The job's own metrics, registered on Flink's metric groups under `movieviews`.

Flink's Prometheus reporter exposes an operator metric `movieviews.<name>` as
`flink_taskmanager_job_task_operator_movieviews_<name>`, a key-value group (`reason`, `le`) as a label, and
every metric as a gauge; Prometheus' scrape config renames them `movieviews_job_<name>`
(deploy/prometheus/prometheus.yml). So names here are already Prometheus names: snake case, `_total` on
counters, counts of events rather than per-movie labels.
"""

from __future__ import annotations

import time
from typing import Any

from stream.errors import (
    EmptyMovieIdError,
    InvalidFieldValueError,
    MissingFieldError,
    UndecodableError,
    UnknownEventTypeError,
    UnknownWriterSchemaError,
)

GROUP = "movieviews"
# Views summed into one keyed update (one movie, one partition, one 100 ms batch): 1 means no coalescing,
# the thousands are what a popular movie reaches at 50k events/s.
UPDATE_SIZE_BUCKETS = (1, 10, 100, 1_000, 10_000)
DEAD_LETTER_METRIC = "dead_letters_total"


# Each gets a sample (0) before its first dead letter; a reason not listed is registered when first seen.
# Listed, not found by __subclasses__(): the job pickles `stream` by value; only referenced classes travel.
REASONS = tuple(
    error.reason
    for error in (
        UndecodableError,
        UnknownWriterSchemaError,
        UnknownEventTypeError,
        MissingFieldError,
        EmptyMovieIdError,
        InvalidFieldValueError,
    )
)


class DeadLetterMetrics:
    """Dead letters by reason, where they are split off: `functions.Route`, and the refusals of
    `functions.MovieStats` (the JVM's UpsertSink.java counts its own under the same name). Each reason of
    `reasons` gets a first sample (0)."""

    def __init__(self, group: Any, reasons: tuple[str, ...] = REASONS) -> None:
        root = group.add_group(GROUP)
        self._by_reason = {
            reason: root.add_group("reason", reason).counter(DEAD_LETTER_METRIC) for reason in reasons
        }
        self._root = root

    def dead_letter(self, reason: str) -> None:
        counter = self._by_reason.get(reason)
        if counter is None:
            counter = self._by_reason[reason] = self._root.add_group("reason", reason).counter(
                DEAD_LETTER_METRIC
            )
        counter.inc()


class StateMetrics:
    """What the keyed state did (`functions.MovieStats`). Duplicates never reach it: the JVM drops them
    before the Python batch (stream/DEDUP.md), and Prometheus records how many from that operator's records
    in and out (`movieviews:duplicates_ignored_total`, deploy/prometheus/rules.yml).

    Figures add up in Python and reach Flink's counters at most every PUSH_INTERVAL_S and whenever the
    state's flush timer fires: each counter update crosses into the JVM, and a keyed update happens up to
    tens of thousands of times a second.
    """

    def __init__(self, group: Any) -> None:
        root = group.add_group(GROUP)
        self._counters = [
            root.counter("events_applied_total"),
            root.counter("snapshots_written_total"),
            root.counter("update_size_events_count"),
            root.counter("update_size_events_sum"),
            *(root.add_group("le", str(b)).counter("update_size_events_bucket") for b in UPDATE_SIZE_BUCKETS),
            root.add_group("le", "+Inf").counter("update_size_events_bucket"),
        ]
        self._pending = [0] * len(self._counters)
        self._pushed_at = time.monotonic()

    def applied(self, events: int) -> None:
        """One keyed update of `events` events (a summed batch of views, or one registration)."""
        pending = self._pending
        pending[EVENTS] += events
        pending[UPDATES] += 1
        pending[UPDATE_SUM] += events
        for index, bound in enumerate(UPDATE_SIZE_BUCKETS, start=BUCKETS):
            if events <= bound:
                pending[index] += 1
        pending[-1] += 1
        if time.monotonic() - self._pushed_at >= PUSH_INTERVAL_S:
            self.push()

    def snapshot_written(self) -> None:
        self._pending[SNAPSHOTS] += 1

    def push(self) -> None:
        for index, delta in enumerate(self._pending):
            if delta:
                self._counters[index].inc(delta)
                self._pending[index] = 0
        self._pushed_at = time.monotonic()


# Positions in StateMetrics' counters.
EVENTS, SNAPSHOTS, UPDATES, UPDATE_SUM, BUCKETS = range(5)
# How stale the job's own figures may be in Flink's registry; Prometheus scrapes every few seconds anyway.
PUSH_INTERVAL_S = 0.5

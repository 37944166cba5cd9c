"""PyFlink adapters: batch decoding as a Table function (`stream.taskmanager.batch`), the router that splits
dead letters off, and per-movie keyed state over `apply`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext, TimeDomain
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.table.udf import FunctionContext, TableFunction

from ground.kafka import KafkaAccess
from schemas.catalog import Catalog
from schemas.registry import KafkaSchemaResolver
from stream.taskmanager.batch import decode_batch
from stream.taskmanager.deadletters import NO_POSITION, REFUSED_BY_STATE, STATE_STAGE, DeadLetter
from stream.taskmanager.metrics import PUSH_INTERVAL_S, DeadLetterMetrics, StateMetrics
from stream.taskmanager.rows import (
    EVENT_COLUMNS,
    REJECTED,
    STATE_TYPE,
    batch_row,
    boundary_row,
    event_from_row,
    flush_row,
    snapshot_row,
    state_from_row,
    state_row,
    trend_from_row,
)
from stream.taskmanager.state import (
    FlushDue,
    MovieState,
    RecentFlushes,
    ScheduleFlush,
    Views,
    apply,
)
from stream.taskmanager.trending import MINUTE_MS, Added, Trend, add_views, cross_boundary, minute_of

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())
# What the pure functions raise for a row's own content: a total or a timer past 64 bits (OverflowError), a
# malformed or missing column (ValueError, TypeError, KeyError). MovieStats dead-letters such a row and leaves
# the movie's state as it was; every other exception (Flink's, the state backend's) fails the task, which
# restarts from its checkpoint.
REFUSED_DATA = (ValueError, TypeError, OverflowError, KeyError)


class DecodeBatch(TableFunction):  # type: ignore[misc]
    """SQL `decode_batch(topic, partition, offsets, payloads)`: rows of `rows.BATCH_OUTPUT_TYPES`."""

    def __init__(self, kafka: KafkaAccess, schemas_topic: str) -> None:
        self._kafka = kafka
        self._schemas_topic = schemas_topic

    def open(self, function_context: FunctionContext) -> None:
        self._catalog = Catalog.bundled(resolver=KafkaSchemaResolver(self._kafka, self._schemas_topic))

    def eval(
        self, topic: str, partition: int, offsets: list[int], payloads: list[bytes | None]
    ) -> Iterator[Row]:
        for item in decode_batch(self._catalog, (topic, partition), offsets, payloads):
            yield batch_row(item)


class Route(ProcessFunction):  # type: ignore[misc]
    """Dead letters to the side output, events (`rows.EVENT_TYPE`) on; sees summed views only."""

    def open(self, runtime_context: RuntimeContext) -> None:
        # Counted here, not in the UDF: thread mode registers no metrics of Table functions.
        self._metrics = DeadLetterMetrics(runtime_context.get_metrics_group())

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Iterator[Any]:
        if value[1] == REJECTED:
            self._metrics.dead_letter(DeadLetter.from_json(value[EVENT_COLUMNS]).reason)
            yield DEAD_LETTERS, value[EVENT_COLUMNS]
        else:
            yield Row(*value[:EVENT_COLUMNS])


class MovieStats(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by movie id; the `ValueState` is the truth, snapshots leave at most once per flush interval: at
    once when the movie's last one is older than that, else at its flush timer (`state.RecentFlushes`).

    With `trending`, also the movie's event-time windows (`stream.taskmanager.trending`): the totals and the
    recent minutes in the same `ValueState` row (one read and one write per row, as without trending), older
    per-minute counts in a `MapState` touched at minute boundaries (event-time timers); the windows leave in
    each flushed snapshot's row (`rows.FLUSH_TYPE`), and in a row of their own at each boundary that moves a
    total. In this function, not a second keyed one, so the summed rows cross into Python once: a second
    Python operator would cost each row a second crossing."""

    def __init__(self, flush_interval_ms: int, trending: bool) -> None:
        self._flush_interval_ms = flush_interval_ms
        self._trending = trending

    def open(self, runtime_context: RuntimeContext) -> None:
        self._state = runtime_context.get_state(ValueStateDescriptor("movie", STATE_TYPE))
        self._metrics = StateMetrics(runtime_context.get_metrics_group())
        self._refused = DeadLetterMetrics(runtime_context.get_metrics_group(), (REFUSED_BY_STATE,))
        self._recent = RecentFlushes(self._flush_interval_ms)
        # A change flushed at once leaves no timer behind to push the figures after the last event: one
        # timer per PUSH_INTERVAL_S at most does (`_push_later`).
        self._push_due = False
        if self._trending:
            descriptor = MapStateDescriptor("minutes", Types.LONG(), Types.LONG())
            self._minutes = runtime_context.get_map_state(descriptor)
            self._late = runtime_context.get_metrics_group().counter("lateViews")

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        row = self._state.value()
        # Every pure step first, then the state writes and timers: a refused row changes nothing.
        try:
            event = event_from_row(value)
            state = state_from_row(ctx.get_current_key(), row)
            trend = trend_from_row(row) if self._trending else None
            added = None
            if trend is not None and isinstance(event, Views):
                # `add_views` only reads the MapState; its failures are none of REFUSED_DATA.
                added = add_views(
                    trend, self._minutes, ctx.timer_service().current_watermark(), event.minutes
                )
            new_state, outputs = apply(state, event)
        except REFUSED_DATA as exc:
            return self._refuse(value, exc)
        self._metrics.applied(event.count if isinstance(event, Views) else 1)
        if added is not None:
            trend = self._added(added, ctx)
        return self._apply(state, new_state, outputs, trend, ctx)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        row = self._state.value()
        state = state_from_row(ctx.get_current_key(), row)
        if ctx.time_domain() == TimeDomain.EVENT_TIME:
            trend = trend_from_row(row)
            moved = cross_boundary(trend, self._minutes, timestamp)
            self._state.update(state_row(state, moved))
            if moved.version != trend.version:
                yield boundary_row(ctx.get_current_key(), moved, timestamp + MINUTE_MS)
            return
        new_state, outputs = apply(state, FlushDue())
        yield from self._emit(state, new_state, trend_from_row(row) if self._trending else None, outputs, ctx)
        self._metrics.push()
        self._push_due = False

    def _apply(
        self,
        state: MovieState,
        new_state: MovieState,
        outputs: tuple[Any, ...],
        trend: Trend | None,
        ctx: KeyedProcessFunction.Context,
    ) -> Iterator[Any]:
        if outputs and isinstance(outputs[0], ScheduleFlush):
            # Processing time is the wall clock in ms, as Flink's timers count it; time.time() is no JVM call.
            now = int(time.time() * 1000)
            held_until = self._recent.held_until(state.movie_id, now)
            if held_until is not None:
                # One timestamp for every change held after one flush: Flink keeps one timer for it.
                ctx.timer_service().register_processing_time_timer(held_until)
                outputs = ()
            else:
                new_state, outputs = apply(new_state, FlushDue())
                self._push_later(ctx, now)
        yield from self._emit(state, new_state, trend, outputs, ctx)

    def _emit(
        self,
        state: MovieState,
        new_state: MovieState,
        trend: Trend | None,
        outputs: tuple[Any, ...],
        ctx: KeyedProcessFunction.Context,
    ) -> Iterator[Any]:
        if new_state is not state:  # views always make a new state: a trend changes only with them
            self._state.update(state_row(new_state, trend))
        for output in outputs:
            self._recent.flushed(new_state.movie_id, int(time.time() * 1000))
            self._metrics.snapshot_written()
            if trend is None:
                yield snapshot_row(output)
            else:
                # Trending changes come with views, so they leave with the flushed snapshot. Before the
                # first watermark it is Long.MIN_VALUE: the windows end at the epoch until one arrives.
                watermark = ctx.timer_service().current_watermark()
                yield flush_row(output, trend, max(minute_of(watermark) + 1, 0) * MINUTE_MS)

    def _push_later(self, ctx: KeyedProcessFunction.Context, now: int) -> None:
        if not self._push_due:
            ctx.timer_service().register_processing_time_timer(now + int(PUSH_INTERVAL_S * 1000))
            self._push_due = True

    def _added(self, added: Added, ctx: KeyedProcessFunction.Context) -> Trend:
        timers = ctx.timer_service()
        for due in added.timers_ms:
            timers.register_event_time_timer(due)
        if added.late:
            self._late.inc(added.late)
        return added.trend

    def _refuse(self, value: Row, exc: Exception) -> Iterator[Any]:
        """The row as a dead letter (`deadletters`: a later stage's refusal), counted by reason."""
        self._refused.dead_letter(REFUSED_BY_STATE)
        detail = f"movie_id {json.dumps(value[0])}: {type(exc).__name__}: {exc}"
        payload = json.dumps(list(value)).encode()
        letter = DeadLetter.of(REFUSED_BY_STATE, detail, (STATE_STAGE, NO_POSITION, NO_POSITION), payload)
        yield DEAD_LETTERS, letter.to_json()

"""PyFlink adapters: batch decoding as a Table function (`stream.taskmanager.batch`), the router that splits
dead letters off, and per-movie keyed state over `apply`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext, TimeDomain
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.table.udf import FunctionContext, TableFunction

from schemas.catalog import Catalog
from schemas.registry import KafkaSchemaResolver
from stream.taskmanager.batch import decode_batch
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.fastdecode import FastViews
from stream.taskmanager.metrics import DeadLetterMetrics, StateMetrics
from stream.taskmanager.rows import (
    EVENT_COLUMNS,
    REJECTED,
    STATE_TYPE,
    TREND_TYPE,
    TRENDING_TYPE,
    batch_row,
    event_from_row,
    snapshot_row,
    state_from_row,
    state_row,
    trend_from_row,
    trend_row,
    trending_row,
)
from stream.taskmanager.state import Event, FlushDue, ScheduleFlush, Snapshot, Views, apply
from stream.taskmanager.trending import MINUTE_MS, add_views, cross_boundary, minute_of

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())
TRENDING = OutputTag("trending", TRENDING_TYPE)


class DecodeBatch(TableFunction):  # type: ignore[misc]
    """SQL `decode_batch(topic, partition, offsets, payloads)`: rows of `rows.BATCH_OUTPUT_TYPES`."""

    def __init__(self, bootstrap: str, schemas_topic: str) -> None:
        self._bootstrap = bootstrap
        self._schemas_topic = schemas_topic

    def open(self, function_context: FunctionContext) -> None:
        self._catalog = Catalog.bundled(resolver=KafkaSchemaResolver(self._bootstrap, self._schemas_topic))
        self._fast = FastViews(self._catalog)

    def eval(
        self, topic: str, partition: int, offsets: list[int], payloads: list[bytes | None]
    ) -> Iterator[Row]:
        for item in decode_batch(self._catalog, self._fast, (topic, partition), offsets, payloads):
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
    """Keyed by movie id; the `ValueState` is the truth, snapshots leave at most once per flush interval.

    With `trending`, also the movie's event-time windows (`stream.taskmanager.trending`): per-minute counts in
    a `MapState`, totals in a `ValueState`, rows to the TRENDING side output with each flushed snapshot and at
    each minute boundary (event-time timers). In this function, not a second keyed one, so the summed rows
    cross into Python once: a second Python operator would cost each row a second crossing."""

    def __init__(self, flush_interval_ms: int, trending: bool) -> None:
        self._flush_interval_ms = flush_interval_ms
        self._trending = trending

    def open(self, runtime_context: RuntimeContext) -> None:
        self._state = runtime_context.get_state(ValueStateDescriptor("movie", STATE_TYPE))
        self._metrics = StateMetrics(runtime_context.get_metrics_group())
        if self._trending:
            self._trend = runtime_context.get_state(ValueStateDescriptor("trend", TREND_TYPE))
            descriptor = MapStateDescriptor("minutes", Types.LONG(), Types.LONG())
            self._minutes = runtime_context.get_map_state(descriptor)
            self._late = runtime_context.get_metrics_group().counter("lateViews")

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        event = event_from_row(value)
        self._metrics.applied(event.count if isinstance(event, Views) else 1)
        if self._trending and isinstance(event, Views):
            self._add_views(event, ctx)
        return self._apply(event, ctx)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        if ctx.time_domain() == TimeDomain.EVENT_TIME:
            yield from self._cross_boundary(timestamp, ctx)
            return
        yield from self._apply(FlushDue(), ctx)
        self._metrics.push()

    def _apply(self, event: Event, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        state = state_from_row(ctx.get_current_key(), self._state.value())
        new_state, outputs = apply(state, event)
        if new_state is not state:
            self._state.update(state_row(new_state))
        for output in outputs:
            if isinstance(output, ScheduleFlush):
                timers = ctx.timer_service()
                due = timers.current_processing_time() + self._flush_interval_ms
                timers.register_processing_time_timer(due)
            else:
                self._metrics.snapshot_written()
                yield snapshot_row(output)
                if self._trending and isinstance(output, Snapshot):
                    # Trending changes come with views, so they leave with the flushed snapshot.
                    yield from self._trending_row(ctx)

    def _add_views(self, event: Views, ctx: KeyedProcessFunction.Context) -> None:
        timers = ctx.timer_service()
        trend = trend_from_row(self._trend.value())
        added = add_views(trend, self._minutes, timers.current_watermark(), event.minutes)
        if added.trend is not trend:
            self._trend.update(trend_row(added.trend))
        for due in added.timers_ms:
            timers.register_event_time_timer(due)
        if added.late:
            self._late.inc(added.late)

    def _cross_boundary(self, timestamp: int, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        trend = cross_boundary(trend_from_row(self._trend.value()), self._minutes, timestamp)
        self._trend.update(trend_row(trend))
        yield TRENDING, trending_row(ctx.get_current_key(), trend, timestamp + MINUTE_MS)

    def _trending_row(self, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        trend = trend_from_row(self._trend.value())
        # Before the first watermark it is Long.MIN_VALUE: the windows end at the epoch until one arrives.
        window_end = max(minute_of(ctx.timer_service().current_watermark()) + 1, 0) * MINUTE_MS
        yield TRENDING, trending_row(ctx.get_current_key(), trend, window_end)

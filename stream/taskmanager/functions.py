"""PyFlink adapters: batch decoding as a Table function (`stream.taskmanager.batch`), the router that splits
dead letters off, and per-movie keyed state over `apply`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table.udf import FunctionContext, TableFunction

from schemas.catalog import Catalog
from schemas.registry import KafkaSchemaResolver
from stream.taskmanager.batch import decode_batch
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.fastdecode import FastViews
from stream.taskmanager.metrics import DeadLetterMetrics, StateMetrics
from stream.taskmanager.rows import (
    REJECTED,
    STATE_TYPE,
    batch_row,
    event_from_row,
    snapshot_row,
    state_from_row,
    state_row,
)
from stream.taskmanager.state import Event, FlushDue, ScheduleFlush, Views, apply

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())


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
            self._metrics.dead_letter(DeadLetter.from_json(value[9]).reason)
            yield DEAD_LETTERS, value[9]
        else:
            yield Row(*value[:9])


class MovieStats(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by movie id; the `ValueState` is the truth, snapshots leave at most once per flush interval."""

    def __init__(self, flush_interval_ms: int) -> None:
        self._flush_interval_ms = flush_interval_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self._state = runtime_context.get_state(ValueStateDescriptor("movie", STATE_TYPE))
        self._metrics = StateMetrics(runtime_context.get_metrics_group())

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        event = event_from_row(value)
        self._metrics.applied(event.count if isinstance(event, Views) else 1)
        return self._apply(event, ctx)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
        yield from self._apply(FlushDue(), ctx)
        self._metrics.push()

    def _apply(self, event: Event, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
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

"""PyFlink adapters: decoding with dead letters on a side output; per-movie keyed state over `apply`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from stream.deadletters import DeadLetter
from stream.decoding import decode_event
from stream.errors import RejectedEventError
from stream.rows import STATE_TYPE, event_from_row, event_row, snapshot_row, state_from_row, state_row
from stream.state import Event, FlushDue, ScheduleFlush, apply

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())


class DecodeEvents(ProcessFunction):  # type: ignore[misc]
    """Input rows are (topic, partition, offset, payload) from the Kafka table source."""

    def __init__(self, bootstrap: str, schemas_topic: str) -> None:
        self._bootstrap = bootstrap
        self._schemas_topic = schemas_topic

    def open(self, runtime_context: RuntimeContext) -> None:
        from schemas.registry import KafkaSchemaResolver

        from schemas.catalog import Catalog

        self._catalog = Catalog.bundled(resolver=KafkaSchemaResolver(self._bootstrap, self._schemas_topic))
        self._dead_letters = runtime_context.get_metrics_group().counter("deadLetters")

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Iterator[Any]:
        topic, partition, offset, payload = value
        try:
            yield event_row(decode_event(self._catalog, payload))
        except RejectedEventError as exc:
            self._dead_letters.inc()
            letter = DeadLetter.of(exc.reason, str(exc), (topic, partition, offset), payload)
            yield DEAD_LETTERS, letter.to_json()


class MovieStats(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by movie id; the `ValueState` is the truth, snapshots leave at most once per flush interval."""

    def __init__(self, flush_interval_ms: int) -> None:
        self._flush_interval_ms = flush_interval_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self._state = runtime_context.get_state(ValueStateDescriptor("movie", STATE_TYPE))

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        return self._apply(event_from_row(value), ctx)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
        return self._apply(FlushDue(), ctx)

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
                yield snapshot_row(output)

"""Broadcasts of subscription results, without a server: a queue of results stands in for the execution."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import orjson
import pytest
from graphql import GraphQLError
from strawberry.types.execution import ExecutionResult, PreExecutionError

from readmodel.fanout import Encoded, FanOut

pytestmark = pytest.mark.anyio
DEADLINE_S = 5.0


class Execution:
    """Results pushed by the test; how many times the operation was started."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ExecutionResult | None] = asyncio.Queue()
        self.starts = 0

    async def results(self) -> AsyncGenerator[ExecutionResult, None]:
        self.starts += 1
        return self._stream()

    async def _stream(self) -> AsyncGenerator[ExecutionResult, None]:
        while (result := await self.queue.get()) is not None:
            yield result

    def push(self, views: int) -> None:
        self.queue.put_nowait(ExecutionResult(data={"views": views}, errors=None))


async def next_data(messages: AsyncIterator[Encoded]) -> object:
    encoded = await asyncio.wait_for(anext(messages), DEADLINE_S)
    return orjson.loads(encoded.message("7"))["payload"]["data"]["views"]


async def until(condition: object) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_equal_subscriptions_share_one_execution_and_a_newcomer_starts_from_the_newest() -> None:
    fanout, execution = FanOut(), Execution()
    first = fanout.subscribe("k", execution.results)
    execution.push(1)
    assert await next_data(first) == 1
    execution.push(2)
    assert await next_data(first) == 2
    late = fanout.subscribe("k", execution.results)
    assert await next_data(late) == 2  # the current state, not the history
    assert (execution.starts, fanout.broadcasts, fanout.subscribers) == (1, 1, 2)
    for messages in (first, late):
        await messages.aclose()  # type: ignore[attr-defined]
    assert (fanout.broadcasts, fanout.subscribers) == (0, 0)


async def test_a_slow_subscriber_gets_the_newest_message_not_a_backlog() -> None:
    fanout, execution = FanOut(), Execution()
    fast, slow = fanout.subscribe("k", execution.results), fanout.subscribe("k", execution.results)
    execution.push(0)
    assert (await next_data(fast), await next_data(slow)) == (0, 0)
    for n in range(1, 51):
        execution.push(n)
        assert await next_data(fast) == n
    assert await next_data(slow) == 50
    await fast.aclose()  # type: ignore[attr-defined]
    await slow.aclose()  # type: ignore[attr-defined]


async def test_the_message_carries_the_subscribers_id_and_the_payload_strawberry_would_send() -> None:
    fanout, execution = FanOut(), Execution()
    messages = fanout.subscribe("k", execution.results)
    error = GraphQLError("limit must be between 1 and 100")
    execution.queue.put_nowait(ExecutionResult(data=None, errors=[error], extensions={"cost": 1}))
    encoded = await asyncio.wait_for(anext(messages), DEADLINE_S)
    assert orjson.loads(encoded.message('a"b')) == {
        "id": 'a"b',
        "type": "next",
        "payload": {"data": None, "errors": [error.formatted], "extensions": {"cost": 1}},
    }
    await messages.aclose()  # type: ignore[attr-defined]


async def test_a_refusal_before_execution_ends_the_broadcast_after_its_error() -> None:
    fanout, execution = FanOut(), Execution()
    messages = fanout.subscribe("k", execution.results)
    execution.queue.put_nowait(PreExecutionError(data=None, errors=[GraphQLError("Cannot query field")]))
    received = [encoded async for encoded in messages]
    assert [e.type for e in received] == ["error"]
    assert orjson.loads(received[0].payload)[0]["message"] == "Cannot query field"
    await until(lambda: fanout.broadcasts == 0)


async def test_the_last_subscriber_leaving_stops_the_execution() -> None:
    fanout, execution = FanOut(), Execution()
    messages = fanout.subscribe("k", execution.results)
    execution.push(1)
    await next_data(messages)
    [task] = [t for t in asyncio.all_tasks() if t.get_name().startswith("live-broadcast:")]
    await messages.aclose()  # type: ignore[attr-defined]
    await until(task.done)
    assert task.cancelled() and fanout.broadcasts == 0

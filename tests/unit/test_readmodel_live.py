"""The subscriptions' live feeds, without a database: a counter stands in for the query."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from readmodel import live
from readmodel.errors import DatabaseUnavailableError
from readmodel.live import Hub

pytestmark = pytest.mark.anyio
DEADLINE_S = 5.0


class Source:
    """The "database": a value that changes, and how many times it was read."""

    def __init__(self) -> None:
        self.value = 0
        self.loads = 0
        self.down = False

    async def load(self) -> int:
        self.loads += 1
        if self.down:
            raise DatabaseUnavailableError()
        return self.value


async def next_value(values: AsyncIterator[int]) -> int:
    return await asyncio.wait_for(anext(values), DEADLINE_S)


async def until(condition: object) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


def feed_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("live-feed:") and not t.done()]


async def test_the_first_message_is_the_current_state_then_each_change() -> None:
    hub, source = Hub(min_interval_s=0.01), Source()
    source.value = 7
    values = hub.subscribe("k", source.load)
    assert await next_value(values) == 7
    source.value = 8
    hub.invalidate()
    assert await next_value(values) == 8
    await values.aclose()  # type: ignore[attr-defined]


async def test_a_notification_without_a_change_sends_nothing() -> None:
    hub, source = Hub(min_interval_s=0.01), Source()
    values = hub.subscribe("k", source.load)
    assert await next_value(values) == 0
    hub.invalidate()
    await until(lambda: source.loads == 2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(values), 0.1)
    await values.aclose()  # type: ignore[attr-defined]


async def test_a_burst_of_changes_is_coalesced_and_the_last_message_is_the_final_state() -> None:
    hub, source = Hub(min_interval_s=0.05), Source()
    values = hub.subscribe("k", source.load)
    assert await next_value(values) == 0
    started = time.monotonic()
    for n in range(1, 201):
        source.value = n
        hub.invalidate()
        await asyncio.sleep(0.001)
    received = []
    while not received or received[-1] != 200:
        received.append(await next_value(values))
    # At most one load per 50 ms however many changes: a handful of loads and messages, not 200.
    assert source.loads <= (time.monotonic() - started) / 0.05 + 2 < 100
    assert received == sorted(received) and len(received) < source.loads
    await values.aclose()  # type: ignore[attr-defined]


async def test_a_slow_subscriber_gets_the_newest_state_not_a_backlog() -> None:
    hub, source = Hub(min_interval_s=0.0), Source()
    fast, slow = hub.subscribe("k", source.load), hub.subscribe("k", source.load)
    assert await next_value(fast) == 0
    assert await next_value(slow) == 0
    for n in range(1, 51):
        source.value = n
        hub.invalidate()
        assert await next_value(fast) == n
    # The slow one read nothing meanwhile; what it holds is a version number, and its next read is the news.
    assert await next_value(slow) == 50
    for values in (fast, slow):
        await values.aclose()  # type: ignore[attr-defined]


async def test_subscribers_with_equal_arguments_share_one_query() -> None:
    hub, source = Hub(min_interval_s=0.0), Source()
    subscriptions = [hub.subscribe("k", source.load) for _ in range(100)]
    assert [await next_value(s) for s in subscriptions] == [0] * 100
    source.value = 1
    hub.invalidate()
    assert [await next_value(s) for s in subscriptions] == [1] * 100
    assert source.loads == 2
    assert (hub.feeds, hub.subscribers) == (1, 100)
    for values in subscriptions:
        await values.aclose()  # type: ignore[attr-defined]


async def test_the_last_subscriber_leaving_removes_the_feed_and_its_task() -> None:
    hub, source = Hub(min_interval_s=0.0), Source()
    first, second = hub.subscribe("a", source.load), hub.subscribe("b", source.load)
    await next_value(first)
    await next_value(second)
    assert hub.feeds == 2 and len(feed_tasks()) == 2
    await first.aclose()  # type: ignore[attr-defined]
    await second.aclose()  # type: ignore[attr-defined]
    assert (hub.feeds, hub.subscribers) == (0, 0)
    await until(lambda: not feed_tasks())


async def test_after_the_listener_reconnects_the_current_state_is_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "RETRY_S", 0.01)
    hub, source = Hub(min_interval_s=0.0), Source()
    values = hub.subscribe("k", source.load)
    assert await next_value(values) == 0
    hub.set_enabled(False)
    source.down = True
    hub.invalidate()
    await until(lambda: source.loads >= 3)  # failing and retrying, subscribers keep their last state
    source.down = False
    hub.set_enabled(True)
    assert await next_value(values) == 0  # unchanged, but sent again: the outage may have hidden a change
    await values.aclose()  # type: ignore[attr-defined]
    await hub.stop()

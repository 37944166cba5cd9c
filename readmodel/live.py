"""Live results for subscriptions: one shared feed per distinct (field, arguments), woken by LISTEN/NOTIFY.

A feed runs its query once per change and keeps only the newest result and a version number; a subscriber
keeps only the version it sent last. So a change costs one query per distinct subscription, not one per
subscriber, and a slow subscriber holds no backlog: when it is ready again it gets the newest result (its
missed changes coalesced into one message). Never a stale one last: a change marks the feed dirty, and the
load that follows starts after the change was committed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from readmodel.errors import DatabaseUnavailableError
from readmodel.metrics import SUBSCRIPTIONS_OPEN

log = logging.getLogger(__name__)

T = TypeVar("T")

# At most five messages per second per subscription: a person watching cannot follow more, and a ranking
# that changes 100 times a second would otherwise cost 100 queries a second per distinct subscription.
MIN_INTERVAL_S = 0.2
# How often a feed retries its query while the database is unavailable.
RETRY_S = 1.0


class Feed(Generic[T]):
    def __init__(
        self,
        name: str,
        load: Callable[[], Awaitable[T]],
        min_interval_s: float,
        period_s: float | None,
        compared: Callable[[T], object],
    ) -> None:
        self._load = load
        self._compared = compared
        self._min_interval_s = min_interval_s
        self.clocked = period_s  # reloaded on this clock instead of on notifications
        self._dirty = asyncio.Event()
        self._dirty.set()
        self._force = False
        self._published = asyncio.Event()
        self._value: T | None = None
        self.version = 0
        self.subscribers = 0
        self.task = asyncio.create_task(self._run(), name=f"live-feed:{name}")

    def mark_dirty(self, force: bool = False) -> None:
        """A change happened; `force` re-sends the next result even if it equals the last one."""
        self._force = self._force or force
        self._dirty.set()

    async def values(self) -> AsyncIterator[T]:
        seen = 0
        while True:
            while self.version == seen:
                await self._published.wait()
            seen = self.version
            yield self._value  # type: ignore[misc]  # set before the first version is published

    async def _run(self) -> None:
        last_load = -math.inf
        while True:
            await self._wait_for_change()
            delay = last_load + self._min_interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._dirty.clear()
            force, self._force = self._force, False
            last_load = time.monotonic()
            try:
                value = await self._load()
            except DatabaseUnavailableError:
                # Subscribers keep their last result; the listener's reconnect forces a re-send later.
                self.mark_dirty(force)
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:
                # A bug must not leave subscribers waiting on a dead feed: logged, retried.
                log.exception("live feed query failed")
                self.mark_dirty(force)
                await asyncio.sleep(RETRY_S)
                continue
            if force or self.version == 0 or self._changed(value):
                self._publish(value)

    async def _wait_for_change(self) -> None:
        if self.clocked is None:
            await self._dirty.wait()
            return
        try:
            await asyncio.wait_for(self._dirty.wait(), self.clocked)
        except TimeoutError:
            self._dirty.set()

    def _changed(self, value: T) -> bool:
        return self._compared(value) != self._compared(self._value)  # type: ignore[arg-type]

    def _publish(self, value: T) -> None:
        self._value = value
        self.version += 1
        published, self._published = self._published, asyncio.Event()
        published.set()


class Hub:
    """Every live feed of one API process; the LISTEN connection (`freshness.ChangeListener`) drives it."""

    def __init__(self, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self._min_interval_s = min_interval_s
        self._feeds: dict[Hashable, Feed[Any]] = {}

    async def subscribe(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[T]],
        period_s: float | None = None,
        compared: Callable[[T], object] = lambda value: value,
    ) -> AsyncIterator[T]:
        """The current result first, then one whenever `compared(result)` changes. With `period_s`, the
        feed reloads on that clock instead of on notifications (results that are not in Postgres).
        `key` names the query and its arguments: subscribers with equal keys share one feed."""
        found: Feed[T] | None = self._feeds.get(key)
        feed = found or Feed(repr(key), load, self._min_interval_s, period_s, compared)
        self._feeds[key] = feed
        feed.subscribers += 1
        SUBSCRIPTIONS_OPEN.inc()
        try:
            async for value in feed.values():
                yield value
        finally:
            SUBSCRIPTIONS_OPEN.dec()
            feed.subscribers -= 1
            if feed.subscribers == 0 and self._feeds.get(key) is feed:
                del self._feeds[key]
                feed.task.cancel()

    @property
    def feeds(self) -> int:
        return len(self._feeds)

    @property
    def subscribers(self) -> int:
        return sum(feed.subscribers for feed in self._feeds.values())

    # The two calls of `freshness.ChangeObserver`:

    def invalidate(self) -> None:
        for feed in self._feeds.values():
            if feed.clocked is None:
                feed.mark_dirty()

    def set_enabled(self, enabled: bool) -> None:
        # Listening (again): changes made while the connection was down were never announced, so every
        # subscriber gets the current result again, changed or not.
        if enabled:
            for feed in self._feeds.values():
                feed.mark_dirty(force=True)

    async def stop(self) -> None:
        feeds = list(self._feeds.values())
        self._feeds.clear()
        for feed in feeds:
            feed.task.cancel()
        await asyncio.gather(*(feed.task for feed in feeds), return_exceptions=True)

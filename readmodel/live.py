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

log = logging.getLogger(__name__)

T = TypeVar("T")

# At most five messages per second per subscription: a person watching cannot follow more, and a ranking
# that changes 100 times a second would otherwise cost 100 queries a second per distinct subscription.
MIN_INTERVAL_S = 0.2
# How often a feed retries its query while the database is unavailable.
RETRY_S = 1.0


class Latest(Generic[T]):
    """The newest of a sequence of values and its version number. A reader remembers only the version it
    took last and waits for a newer one: a slow reader skips to the newest (what it missed coalesced into
    one), holds no backlog, and never gets a stale value last."""

    def __init__(self) -> None:
        self.value: T | None = None
        self.version = 0
        self.closed = False
        self._published = asyncio.Event()

    def publish(self, value: T) -> None:
        self.value = value
        self.version += 1
        self._wake()

    def close(self) -> None:
        """No more values: readers end once they have the last one."""
        self.closed = True
        self._wake()

    async def values(self) -> AsyncIterator[T]:
        seen = 0
        while True:
            while self.version == seen:
                if self.closed:
                    return
                await self._published.wait()
            seen = self.version
            yield self.value  # type: ignore[misc]  # set before the first version is published

    def _wake(self) -> None:
        published, self._published = self._published, asyncio.Event()
        published.set()


class Source(Generic[T]):
    """A task publishing into a `Latest`, read by `subscribers` readers (`Shared`)."""

    task: asyncio.Task[None]

    def __init__(self) -> None:
        self.latest: Latest[T] = Latest()
        self.subscribers = 0


S = TypeVar("S", bound=Source[Any])


class Shared(Generic[S]):
    """Sources kept while they have readers: readers with equal keys share one source; the last one leaving
    stops its task."""

    def __init__(self) -> None:
        self.sources: dict[Hashable, S] = {}

    async def read(self, key: Hashable, start: Callable[[], S]) -> AsyncIterator[Any]:
        source = self.sources.get(key)
        if source is None or source.latest.closed:
            source = self.sources[key] = start()
        source.subscribers += 1
        try:
            async for value in source.latest.values():
                yield value
        finally:
            source.subscribers -= 1
            if source.subscribers == 0 and self.sources.get(key) is source:
                del self.sources[key]
                source.task.cancel()

    @property
    def subscribers(self) -> int:
        return sum(source.subscribers for source in self.sources.values())

    async def stop(self) -> None:
        sources = list(self.sources.values())
        self.sources.clear()
        for source in sources:
            source.task.cancel()
        await asyncio.gather(*(source.task for source in sources), return_exceptions=True)


class Feed(Source[T]):
    """One query's results: reloaded on each change (or on a clock), published when they differ."""

    def __init__(
        self,
        name: str,
        load: Callable[[], Awaitable[T]],
        min_interval_s: float,
        period_s: float | None,
        compared: Callable[[T], object],
    ) -> None:
        super().__init__()
        self._load = load
        self._compared = compared
        self._min_interval_s = min_interval_s
        self.clocked = period_s  # reloaded on this clock instead of on notifications
        self._dirty = asyncio.Event()
        self._dirty.set()
        self._force = False
        self.task = asyncio.create_task(self._run(), name=f"live-feed:{name}")

    def mark_dirty(self, force: bool = False) -> None:
        """A change happened; `force` re-sends the next result even if it equals the last one."""
        self._force = self._force or force
        self._dirty.set()

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
            if force or self.latest.version == 0 or self._changed(value):
                self.latest.publish(value)

    async def _wait_for_change(self) -> None:
        if self.clocked is None:
            await self._dirty.wait()
            return
        try:
            await asyncio.wait_for(self._dirty.wait(), self.clocked)
        except TimeoutError:
            self._dirty.set()

    def _changed(self, value: T) -> bool:
        return self._compared(value) != self._compared(self.latest.value)  # type: ignore[arg-type]


class Hub:
    """Every live feed of one API process; the LISTEN connection (`freshness.ChangeListener`) drives it."""

    def __init__(self, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self._min_interval_s = min_interval_s
        self._feeds: Shared[Feed[Any]] = Shared()

    def subscribe(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[T]],
        period_s: float | None = None,
        compared: Callable[[T], object] = lambda value: value,
    ) -> AsyncIterator[T]:
        """The current result first, then one whenever `compared(result)` changes. With `period_s`, the
        feed reloads on that clock instead of on notifications (results that are not in Postgres).
        `key` names the query and its arguments: subscribers with equal keys share one feed."""
        return self._feeds.read(key, lambda: Feed(repr(key), load, self._min_interval_s, period_s, compared))

    @property
    def feeds(self) -> int:
        return len(self._feeds.sources)

    @property
    def subscribers(self) -> int:
        return self._feeds.subscribers

    # The two calls of `freshness.ChangeObserver`:

    def invalidate(self) -> None:
        for feed in self._feeds.sources.values():
            if feed.clocked is None:
                feed.mark_dirty()

    def set_enabled(self, enabled: bool) -> None:
        # Listening (again): changes made while the connection was down were never announced, so every
        # subscriber gets the current result again, changed or not.
        if enabled:
            for feed in self._feeds.sources.values():
                feed.mark_dirty(force=True)

    async def stop(self) -> None:
        await self._feeds.stop()

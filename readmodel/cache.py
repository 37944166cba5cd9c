"""Reuse of ready responses until `movie_stats` changes, told by Postgres LISTEN/NOTIFY.

Each worker keeps the response of each distinct query request; a notification on `movie_stats_changed` from
the table's statement-level trigger (median 4 ms after commit, measured here) marks them all stale. A stale
response is served only while one execution computes its replacement and only if its data is at most
MAX_STALE_S old: after a change, clients do not all wait for (and all run) the same query. While the LISTEN
connection is down nothing is reused: a missed notification would otherwise serve stale data forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from starlette.responses import Response

log = logging.getLogger(__name__)

CHANNEL = "movie_stats_changed"
# Enough for every (query, variables) shape real clients send; a flood of unique requests only evicts.
MAX_ENTRIES = 4096
# How old the data in a served response may be while its replacement is computed; a fresh one takes ms.
MAX_STALE_S = 0.2
# A half-open TCP connection shows no error until written to; a ping this often bounds how long it can hide.
PING_INTERVAL_S = 2.0
RECONNECT_DELAY_S = 0.5


@dataclass(frozen=True)
class Entry:
    response: Response
    generation: int
    started_at: float  # monotonic time its execution started: the data is at least this recent


class ResponseCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_stale_s: float = MAX_STALE_S) -> None:
        self._entries: dict[bytes, Entry] = {}
        self._max_entries = max_entries
        self._max_stale_s = max_stale_s
        self.generation = 0
        self.enabled = False

    def lookup(self, key: bytes) -> tuple[Response | None, bool]:
        """The stored response, if any may be served, and whether no change has happened since."""
        entry = self._entries.get(key) if self.enabled else None
        if entry is None:
            return None, False
        if entry.generation == self.generation:
            return entry.response, True
        if time.monotonic() - entry.started_at <= self._max_stale_s:
            return entry.response, False
        return None, False

    def put(self, key: bytes, response: Response, generation: int, started_at: float) -> None:
        current = self._entries.get(key)
        # Never replace a response with one computed from older data; one from before a later change is still
        # an improvement on what is stored, and lookup knows it is stale.
        if not self.enabled or (current is not None and current.generation > generation):
            return
        if current is None and len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = Entry(response, generation, started_at)

    def invalidate(self) -> None:
        self.generation += 1

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        self._entries.clear()
        self.generation += 1


class ChangeObserver(Protocol):
    def invalidate(self) -> None:
        """Something in the read model changed."""

    def set_enabled(self, enabled: bool) -> None:
        """The LISTEN connection is up (changes will be announced) or down (they may go unannounced)."""


class ChangeListener:
    """Keeps one LISTEN connection open, reconnecting until stopped, and tells every observer: the response
    cache (on only while it is up) and the subscriptions' live feeds (`readmodel.live.Hub`)."""

    def __init__(self, dsn: str, *observers: ChangeObserver) -> None:
        self._dsn = dsn
        self._observers = observers
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="movie-stats-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("LISTEN %s lost (%s); responses are not reused until it is back", CHANNEL, exc)
            finally:
                self._set_enabled(False)
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=PING_INTERVAL_S)
        try:
            await conn.add_listener(CHANNEL, self._notified)
            # Enabled only once listening: anything committed from here on is announced.
            self._set_enabled(True)
            while not conn.is_closed():
                await conn.fetchval("SELECT 1", timeout=PING_INTERVAL_S)
                await asyncio.sleep(PING_INTERVAL_S)
        finally:
            # terminate(), not close(): no round trip to a server that may be gone.
            conn.terminate()

    def _notified(self, *_: object) -> None:
        for observer in self._observers:
            observer.invalidate()

    def _set_enabled(self, enabled: bool) -> None:
        for observer in self._observers:
            observer.set_enabled(enabled)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """asyncpg takes plain libpq URLs; the settings give SQLAlchemy's `postgresql+asyncpg://`."""
    return "postgresql://" + sqlalchemy_url.split("://", 1)[1]

"""Reuse of ready responses until `movie_stats` changes, told by Postgres LISTEN/NOTIFY.

Each worker keeps the encoded response of each distinct query request and drops them all when the table's
statement-level trigger notifies `movie_stats_changed` (median 4 ms from commit, per STACK-NOTES). While the
LISTEN connection is down nothing is reused: a missed notification would otherwise serve stale data forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from starlette.responses import Response

log = logging.getLogger(__name__)

CHANNEL = "movie_stats_changed"
# Enough for every (query, variables) shape real clients send; a flood of unique requests only evicts.
MAX_ENTRIES = 4096
# A half-open TCP connection shows no error until written to; a ping this often bounds how long it can hide.
PING_INTERVAL_S = 2.0
RECONNECT_DELAY_S = 0.5


class ResponseCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[bytes, Response] = {}
        self._max_entries = max_entries
        self.generation = 0
        self.enabled = False

    def get(self, key: bytes) -> Response | None:
        return self._entries.get(key) if self.enabled else None

    def put(self, key: bytes, response: Response, generation: int) -> None:
        # A response computed before the latest change may hold old rows: keep it only if nothing changed.
        if not self.enabled or generation != self.generation:
            return
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = response

    def invalidate(self) -> None:
        self._entries.clear()
        self.generation += 1

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        self.invalidate()


class ChangeListener:
    """Keeps one LISTEN connection open, reconnecting until stopped; the cache is on only while it is up."""

    def __init__(self, dsn: str, cache: ResponseCache) -> None:
        self._dsn = dsn
        self._cache = cache
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
                self._cache.set_enabled(False)
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=PING_INTERVAL_S)
        try:
            await conn.add_listener(CHANNEL, self._notified)
            # Enabled only once listening: anything committed from here on is announced.
            self._cache.set_enabled(True)
            while not conn.is_closed():
                await conn.fetchval("SELECT 1", timeout=PING_INTERVAL_S)
                await asyncio.sleep(PING_INTERVAL_S)
        finally:
            # terminate(), not close(): no round trip to a server that may be gone.
            conn.terminate()

    def _notified(self, *_: object) -> None:
        self._cache.invalidate()


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """asyncpg takes plain libpq URLs; the settings give SQLAlchemy's `postgresql+asyncpg://`."""
    return "postgresql://" + sqlalchemy_url.split("://", 1)[1]

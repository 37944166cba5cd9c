"""Reads the read model's current version (the `_current` views, readmodel.versions) as the read-only role,
through SQLAlchemy Core on asyncpg."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import URL, ColumnElement, RowMapping, and_, func, make_url, or_, select, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from readmodel.cursor import Cursor
from readmodel.errors import DatabaseUnavailableError, OverloadedError
from readmodel.tables import movie_stats, movie_trending

# Two workers x (5 + 5) stays far below Postgres' default 100 connections; a read takes well under a
# millisecond, so a handful of connections per worker keeps up with thousands of requests per second.
POOL_SIZE = 5
POOL_OVERFLOW = 5
# A topMovies page is an index range scan; anything slower than this is a fault, not a query to wait for.
STATEMENT_TIMEOUT_MS = 2000
# Bounds connect so a dead Postgres gives a fast, clear error instead of a hung request.
CONNECT_TIMEOUT_S = 2.0
# How long a request waits for a pooled connection before it is told "busy, retry": a read holds one for well
# under a millisecond, so waiting longer than this means the pool is saturated, not that one is about to free.
POOL_WAIT_S = 0.5
# Postgres' SQLSTATE for a statement cancelled by statement_timeout.
QUERY_CANCELED = "57014"


@dataclass(frozen=True)
class MovieRow:
    movie_id: str
    title: str | None
    year: int | None
    genre: str | None
    view_count: int
    watch_seconds: int
    first_viewed_at: datetime | None
    last_viewed_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_mapping(cls, row: RowMapping) -> MovieRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TopPage:
    rows: Sequence[MovieRow]
    has_next: bool
    as_of: datetime | None


@dataclass(frozen=True)
class TrendingRow:
    movie_id: str
    title: str | None
    genre: str | None
    views: int


@dataclass(frozen=True)
class TrendingPage:
    rows: Sequence[TrendingRow]
    window_end: datetime | None  # the newest event-time minute end any movie's windows reached


def _tls(url: URL) -> tuple[URL, dict[str, object]]:
    """SQLAlchemy's asyncpg dialect hands a URL's parameters to `asyncpg.connect` as keywords, which has no
    `sslmode` or `sslrootcert`: libpq's TLS parameters become the `ssl` argument they mean. verify-full and
    verify-ca are a context that trusts only the CA file (verify-full also checks the host name)."""
    mode = url.query.get("sslmode")
    if not isinstance(mode, str):
        return url, {}
    root = url.query.get("sslrootcert")
    url = url.difference_update_query(["sslmode", "sslrootcert"])
    if mode not in ("verify-full", "verify-ca"):
        return url, {"ssl": mode}
    context = ssl.create_default_context(cafile=root if isinstance(root, str) else None)
    context.check_hostname = mode == "verify-full"
    return url, {"ssl": context}


def create_reader_engine(url: str, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> AsyncEngine:
    plain, tls = _tls(make_url(url))
    return create_async_engine(
        plain,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=POOL_WAIT_S,
        # One round trip per checkout buys recovery on the first request after Postgres restarts.
        pool_pre_ping=True,
        connect_args={
            **tls,
            "timeout": CONNECT_TIMEOUT_S,
            "server_settings": {
                "statement_timeout": str(statement_timeout_ms),
                "application_name": "movieviews-api",
                "default_transaction_read_only": "on",
            },
        },
    )


class MovieStatsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def movie(self, movie_id: str) -> MovieRow | None:
        async with self._connect() as conn:
            row = (await conn.execute(select(movie_stats).where(movie_stats.c.movie_id == movie_id))).first()
        return None if row is None else MovieRow.from_mapping(row._mapping)

    async def top(self, limit: int, genre: str | None, after: Cursor | None) -> TopPage:
        query = select(movie_stats).order_by(movie_stats.c.view_count.desc(), movie_stats.c.movie_id)
        if genre is not None:
            query = query.where(movie_stats.c.genre == genre)
        if after is not None:
            query = query.where(_after(after))
        async with self._connect() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).mappings().all()
            as_of = (await conn.execute(select(func.max(movie_stats.c.updated_at)))).scalar_one()
        return TopPage([MovieRow.from_mapping(r) for r in rows[:limit]], len(rows) > limit, as_of)

    async def trending(self, day: bool, limit: int, genre: str | None) -> TrendingPage:
        """Movies by views in the last hour (or 24 hours, `day`) of event time; ties by movie id."""
        views = movie_trending.c.day_views if day else movie_trending.c.hour_views
        joined = movie_trending.outerjoin(movie_stats, movie_stats.c.movie_id == movie_trending.c.movie_id)
        query = (
            select(movie_trending.c.movie_id, movie_stats.c.title, movie_stats.c.genre, views.label("views"))
            .select_from(joined)
            .where(views > 0)
            .order_by(views.desc(), movie_trending.c.movie_id)
            .limit(limit)
        )
        if genre is not None:
            query = query.where(movie_stats.c.genre == genre)
        async with self._connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            window_end = (await conn.execute(select(func.max(movie_trending.c.window_end)))).scalar_one()
        return TrendingPage([TrendingRow(**row) for row in rows], window_end)

    async def totals(self) -> tuple[int, datetime | None]:
        """Views over every movie, and when the stream job last wrote: the dashboard's rate and freshness."""
        query = select(
            func.coalesce(func.sum(movie_stats.c.view_count), 0), func.max(movie_stats.c.updated_at)
        )
        async with self._connect() as conn:
            total, updated_at = (await conn.execute(query)).one()
        return int(total), updated_at

    async def ping(self) -> None:
        async with self._connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        # Pool exhaustion and statement timeouts mean Postgres is up but busy: "retry", not "down". Connection
        # loss, refused connects and shutdown mean it is unavailable. Bad SQL or a missing grant is a bug.
        try:
            async with self._engine.connect() as conn:
                yield conn
        except ProgrammingError:
            raise
        except PoolTimeout as exc:
            raise OverloadedError(f"all {POOL_SIZE + POOL_OVERFLOW} read connections are in use") from exc
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
                raise OverloadedError("a query ran out of its time") from exc
            raise DatabaseUnavailableError() from exc
        except (OSError, TimeoutError) as exc:
            raise DatabaseUnavailableError() from exc


def _after(cursor: Cursor) -> ColumnElement[bool]:
    view_count, movie_id = movie_stats.c.view_count, movie_stats.c.movie_id
    # The redundant `view_count <= n` is what the index range scan starts from; the OR only filters the ties.
    return and_(
        view_count <= cursor.view_count,
        or_(view_count < cursor.view_count, movie_id > cursor.movie_id),
    )

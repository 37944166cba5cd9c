"""The read model's tables, as SQLAlchemy Core metadata.

Alembic migrations are the only way the schema changes; this metadata exists so `alembic check` can prove the
migrations and the code agree, and so queries are built from typed columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from stream.upsert import SLOTS, stats_table, trending_table

# Constraint names follow one convention so migrations and `alembic check` compare like with like.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _stats_columns() -> list[Column[object]]:
    return [
        Column("movie_id", Text, primary_key=True),
        Column("title", Text, nullable=True),
        Column("year", Integer, nullable=True),
        Column("genre", Text, nullable=True),
        Column("view_count", BigInteger, nullable=False, server_default=text("0")),
        Column("watch_seconds", BigInteger, nullable=False, server_default=text("0")),
        Column("first_viewed_at", DateTime(timezone=True), nullable=True),
        Column("last_viewed_at", DateTime(timezone=True), nullable=True),
        # The stream job's upsert only replaces a row when its snapshot version is newer.
        Column("version", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _stats_table(name: str) -> Table:
    table = Table(name, metadata, *_stats_columns())
    # topMovies reads `ORDER BY view_count DESC, movie_id` and walks pages by keyset on the same pair.
    Index(f"ix_{name}_rank", table.c.view_count.desc(), table.c.movie_id)
    Index(f"ix_{name}_genre_rank", table.c.genre, table.c.view_count.desc(), table.c.movie_id)
    # asOf is max(updated_at): one index probe instead of a scan.
    Index(f"ix_{name}_updated_at", table.c.updated_at)
    return table


# The API's clients. Only the key's HMAC is stored; the key itself is shown once by `movieviews keys create`.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    # NULL: the default per-key rate of the API's settings.
    Column("rate_per_s", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


# Views per movie in the last hour / 24 hours of event time, as of `window_end` (exclusive), written by the
# stream job's trending state (stream/taskmanager/trending.py) with the same version guard as movie_stats.
def _trending_columns() -> list[Column[object]]:
    return [
        Column("movie_id", Text, primary_key=True),
        Column("hour_views", BigInteger, nullable=False),
        Column("day_views", BigInteger, nullable=False),
        Column("window_end", DateTime(timezone=True), nullable=False),
        Column("version", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _trending_table(name: str) -> Table:
    table = Table(name, metadata, *_trending_columns())
    Index(f"ix_{name}_hour", table.c.hour_views.desc(), table.c.movie_id)
    Index(f"ix_{name}_day", table.c.day_views.desc(), table.c.movie_id)
    return table


# Each read-model version (slot, stream.upsert.SLOTS) has its pair of tables; the job of that version writes
# them (deploy/rebuild.py).
stats_tables = {slot: _stats_table(stats_table(slot)) for slot in SLOTS}
trending_tables = {slot: _trending_table(trending_table(slot)) for slot in SLOTS}

# What the API reads: SQL views naming one slot's tables (migration 0004), switched in one transaction by
# `movieviews rebuild`. Kept out of `metadata`, so `alembic check` compares tables only.
sql_views = MetaData()
movie_stats = Table("movie_stats_current", sql_views, *_stats_columns())
movie_trending = Table("movie_trending_current", sql_views, *_trending_columns())

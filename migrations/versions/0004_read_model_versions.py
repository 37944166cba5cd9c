"""Read-model versions: a second slot of tables (movie_stats_v2, movie_trending_v2) and the views the API
reads (movie_stats_current, movie_trending_current), naming slot 1. `movieviews rebuild` builds the slot the
views do not name and switches them (deploy/rebuild.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATS, TRENDING = "movie_stats_v2", "movie_trending_v2"
# The views' text is readmodel.versions.view_sql's (a rebuild replaces them with the same shape).
VIEWS = {"movie_stats_current": "movie_stats", "movie_trending_current": "movie_trending"}


def upgrade() -> None:
    op.create_table(
        STATS,
        sa.Column("movie_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("genre", sa.Text(), nullable=True),
        sa.Column("view_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("watch_seconds", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("first_viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("movie_id", name=f"pk_{STATS}"),
    )
    op.create_index(f"ix_{STATS}_rank", STATS, [sa.text("view_count DESC"), "movie_id"])
    op.create_index(f"ix_{STATS}_genre_rank", STATS, ["genre", sa.text("view_count DESC"), "movie_id"])
    op.create_index(f"ix_{STATS}_updated_at", STATS, ["updated_at"])
    op.create_table(
        TRENDING,
        sa.Column("movie_id", sa.Text(), nullable=False),
        sa.Column("hour_views", sa.BigInteger(), nullable=False),
        sa.Column("day_views", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("movie_id", name=f"pk_{TRENDING}"),
    )
    op.create_index(f"ix_{TRENDING}_hour", TRENDING, [sa.text("hour_views DESC"), "movie_id"])
    op.create_index(f"ix_{TRENDING}_day", TRENDING, [sa.text("day_views DESC"), "movie_id"])
    for table in (STATS, TRENDING):
        # The same statement-level notification as slot 1 (migrations 0001, 0003).
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION movie_stats_notify()"
        )
        # The API reads through the views; a slot's job upserts; `rebuild --drop-old` empties (as mv_owner).
        op.execute(f"GRANT SELECT ON {table} TO mv_reader")
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON {table} TO mv_writer")
    for view, table in VIEWS.items():
        op.execute(f"CREATE VIEW {view} AS SELECT * FROM {table}")
        op.execute(f"GRANT SELECT ON {view} TO mv_reader, mv_writer")


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW {view}")
    op.drop_table(TRENDING)
    op.drop_table(STATS)

"""movie_stats: the per-movie snapshot the stream job upserts and the API reads.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 20:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Statement-level, so a 500-row sink batch sends one notification, and Postgres folds duplicates within a
# transaction. The API drops reused results when it arrives. DELETE and TRUNCATE too: a reused result must
# never outlive rows that are gone.
NOTIFY_FUNCTION = """
CREATE FUNCTION movie_stats_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('movie_stats_changed', '');
    RETURN NULL;
END;
$$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER movie_stats_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON movie_stats
FOR EACH STATEMENT EXECUTE FUNCTION movie_stats_notify()
"""


def upgrade() -> None:
    op.create_table(
        "movie_stats",
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
        sa.PrimaryKeyConstraint("movie_id", name="pk_movie_stats"),
    )
    op.create_index("ix_movie_stats_rank", "movie_stats", [sa.text("view_count DESC"), "movie_id"])
    op.create_index(
        "ix_movie_stats_genre_rank", "movie_stats", ["genre", sa.text("view_count DESC"), "movie_id"]
    )
    op.create_index("ix_movie_stats_updated_at", "movie_stats", ["updated_at"])
    op.execute(NOTIFY_FUNCTION)
    op.execute(NOTIFY_TRIGGER)
    # Roles are cluster-wide and created by `movieviews up`; the API reads only, the stream job upserts.
    op.execute("GRANT SELECT ON movie_stats TO mv_reader")
    op.execute("GRANT SELECT, INSERT, UPDATE ON movie_stats TO mv_writer")


def downgrade() -> None:
    op.execute("DROP TRIGGER movie_stats_changed ON movie_stats")
    op.execute("DROP FUNCTION movie_stats_notify()")
    op.drop_index("ix_movie_stats_updated_at", table_name="movie_stats")
    op.drop_index("ix_movie_stats_genre_rank", table_name="movie_stats")
    op.drop_index("ix_movie_stats_rank", table_name="movie_stats")
    op.drop_table("movie_stats")

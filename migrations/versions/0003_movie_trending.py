"""movie_trending: views per movie in the last hour and the last 24 hours of event time
(stream/taskmanager/trending.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 23:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same notification as movie_stats (migration 0001): the API's reused responses and live subscriptions
# listen on one channel for any change in the read model.
NOTIFY_TRIGGER = """
CREATE TRIGGER movie_trending_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON movie_trending
FOR EACH STATEMENT EXECUTE FUNCTION movie_stats_notify()
"""


def upgrade() -> None:
    op.create_table(
        "movie_trending",
        sa.Column("movie_id", sa.Text(), nullable=False),
        sa.Column("hour_views", sa.BigInteger(), nullable=False),
        sa.Column("day_views", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("movie_id", name="pk_movie_trending"),
    )
    op.create_index("ix_movie_trending_hour", "movie_trending", [sa.text("hour_views DESC"), "movie_id"])
    op.create_index("ix_movie_trending_day", "movie_trending", [sa.text("day_views DESC"), "movie_id"])
    op.execute(NOTIFY_TRIGGER)
    op.execute("GRANT SELECT ON movie_trending TO mv_reader")
    op.execute("GRANT SELECT, INSERT, UPDATE ON movie_trending TO mv_writer")


def downgrade() -> None:
    op.execute("DROP TRIGGER movie_trending_changed ON movie_trending")
    op.drop_index("ix_movie_trending_day", table_name="movie_trending")
    op.drop_index("ix_movie_trending_hour", table_name="movie_trending")
    op.drop_table("movie_trending")

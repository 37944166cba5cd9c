"""The read model's versions in Postgres: the views the API reads, switched in one transaction, compared and
emptied as `movieviews rebuild` does (the whole rebuild under load is the `rebuild` drill)."""

from __future__ import annotations

import psycopg
import pytest
from readmodel_fixtures import Snapshot

from deploy.settings import Settings
from readmodel import versions
from readmodel.cache import CHANNEL
from stream.upsert import stats_table, upsert_sql


def seed(settings: Settings, slot: int, snapshots: list[Snapshot]) -> None:
    with psycopg.connect(settings.writer_dsn) as conn:
        for snapshot in snapshots:
            conn.execute(upsert_sql(stats_table(slot)).replace("?", "%s"), snapshot.params())


def read_counts(settings: Settings) -> dict[str, int]:
    with psycopg.connect(settings.reader_dsn) as conn:
        return dict(conn.execute("SELECT movie_id, view_count FROM movie_stats_current").fetchall())


def test_the_api_reads_slot_one_until_a_switch_points_both_views_at_slot_two(
    fresh_database: Settings,
) -> None:
    seed(fresh_database, 1, [Snapshot("m-1", 5, version=5), Snapshot("m-2", 1, version=1)])
    seed(fresh_database, 2, [Snapshot("m-1", 7, version=7), Snapshot("m-2", 1, version=1)])
    assert versions.current_slot(fresh_database.owner_dsn) == 1
    assert read_counts(fresh_database) == {"m-1": 5, "m-2": 1}

    with psycopg.connect(fresh_database.reader_dsn, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        versions.switch(fresh_database.owner_dsn, 2)
        notices = list(listener.notifies(timeout=5, stop_after=1))

    assert versions.current_slot(fresh_database.owner_dsn) == 2
    assert read_counts(fresh_database) == {"m-1": 7, "m-2": 1}
    assert [n.channel for n in notices] == [CHANNEL]
    with psycopg.connect(fresh_database.reader_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM movie_trending_current").fetchone()
        tables = conn.execute(
            "SELECT definition FROM pg_views WHERE viewname = 'movie_trending_current'"
        ).fetchone()
    assert row == (0,)
    assert tables is not None and "movie_trending_v2" in tables[0]


def test_two_slots_compare_equal_at_one_version_and_ahead_at_a_later_one(fresh_database: Settings) -> None:
    seed(fresh_database, 1, [Snapshot("m-1", 5, version=5), Snapshot("m-2", 1, version=1)])
    seed(fresh_database, 2, [Snapshot("m-1", 5, version=5), Snapshot("m-2", 2, version=2)])
    result = versions.compare(*versions.rows(fresh_database.owner_dsn, (1, 2)))
    assert (result.equal, result.ahead, result.proved) == (1, 1, True)


def test_the_old_version_is_emptied_but_never_the_one_the_api_reads(fresh_database: Settings) -> None:
    seed(fresh_database, 2, [Snapshot("m-1", 5, version=5)])
    with pytest.raises(versions.VersionError, match="slot 1 is the version the API reads"):
        versions.empty(fresh_database.owner_dsn, 1)
    assert not versions.is_empty(fresh_database.owner_dsn, 2)
    versions.empty(fresh_database.owner_dsn, 2)
    assert versions.is_empty(fresh_database.owner_dsn, 2)

"""Alembic is the only way the schema changes: up from empty, down to base and back, models in step."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from readmodel_fixtures import Snapshot, reader_conninfo, upsert, writer_conninfo

from deploy.settings import Settings
from readmodel import migrate


def owner_conninfo(settings: Settings) -> str:
    return settings.owner_dsn


def relations(settings: Settings) -> set[str]:
    with psycopg.connect(owner_conninfo(settings)) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_head_has_the_table_its_indexes_and_models_agree(fresh_database: Settings) -> None:
    assert {
        "movie_stats",
        "pk_movie_stats",
        "ix_movie_stats_rank",
        "ix_movie_stats_genre_rank",
        "ix_movie_stats_updated_at",
        "alembic_version",
    } <= relations(fresh_database)
    migrate.check(fresh_database.owner_url)


def test_downgrade_to_base_and_back(fresh_database: Settings) -> None:
    migrate.downgrade(fresh_database.owner_url, "base")
    assert relations(fresh_database) == {"alembic_version", "alembic_version_pkc"}
    with psycopg.connect(owner_conninfo(fresh_database)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = 'movie_stats_notify'"
        ).fetchone() == (0,)
    migrate.upgrade(fresh_database.owner_url)
    migrate.check(fresh_database.owner_url)
    assert upsert(fresh_database, [Snapshot("m-1", 1)]) == 1


def test_guarded_upsert_keeps_the_newest_version(fresh_database: Settings) -> None:
    assert upsert(fresh_database, [Snapshot("m-1", 5, version=2)]) == 1
    assert upsert(fresh_database, [Snapshot("m-1", 3, version=1), Snapshot("m-1", 5, version=2)]) == 0
    assert upsert(fresh_database, [Snapshot("m-1", 6, version=3)]) == 1
    with psycopg.connect(reader_conninfo(fresh_database)) as conn:
        assert conn.execute("SELECT view_count, version FROM movie_stats").fetchall() == [(6, 3)]


def test_reader_role_cannot_write(fresh_database: Settings) -> None:
    with psycopg.connect(reader_conninfo(fresh_database)) as conn:
        for statement in (
            "INSERT INTO movie_stats (movie_id, version) VALUES ('m-x', 1)",
            "UPDATE movie_stats SET view_count = 1",
            "DELETE FROM movie_stats",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_writer_role_cannot_delete(fresh_database: Settings) -> None:
    with (
        psycopg.connect(writer_conninfo(fresh_database)) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM movie_stats")


def test_each_write_statement_notifies_listeners(fresh_database: Settings) -> None:
    with psycopg.connect(reader_conninfo(fresh_database), autocommit=True) as listener:
        listener.execute("LISTEN movie_stats_changed")
        upsert(fresh_database, [Snapshot("m-1", 1), Snapshot("m-2", 2)])
        notices = list(listener.notifies(timeout=2, stop_after=2))
    # One transaction, one notification: Postgres folds identical notifications of a transaction.
    assert [n.channel for n in notices] == ["movie_stats_changed"]

"""Comparing a rebuilt read-model version with the live one, movie by movie, and the slots' names."""

from __future__ import annotations

from deploy.flink.jobs import job_config, to_args
from deploy.flink.jobscript import from_args
from deploy.settings import Settings
from readmodel.versions import Comparison, compare, other_slot, view_sql
from stream.upsert import SLOTS, flush_sql, stats_table, trending_table, upsert_sql


def row(version: int, views: int, watch: int = 0, title: str | None = "T") -> tuple[object, ...]:
    return (version, views, watch, title, 2001, "drama", None, None)


def test_movies_at_the_same_version_with_equal_rows_are_proved_equal() -> None:
    live = {"m-1": row(3, 2), "m-2": row(1, 0)}
    assert compare(live, dict(live)) == Comparison(equal=2)


def test_a_movie_at_the_same_version_with_another_count_differs() -> None:
    result = compare({"m-1": row(3, 2)}, {"m-1": row(3, 3)})
    assert (result.differ, result.proved) == (["m-1"], False)


def test_a_movie_the_rebuild_has_not_reached_yet_is_behind() -> None:
    result = compare({"m-1": row(3, 2), "m-2": row(1, 1)}, {"m-1": row(2, 1)})
    assert (result.behind, result.proved) == (["m-1", "m-2"], False)


def test_a_movie_with_later_events_in_the_rebuild_is_ahead_when_its_counts_grew() -> None:
    result = compare({"m-1": row(3, 2, 10)}, {"m-1": row(5, 4, 12), "m-new": row(1, 1)})
    assert result == Comparison(ahead=2)
    assert result.proved


def test_a_movie_ahead_with_a_lower_count_differs_so_no_count_goes_down_at_the_switch() -> None:
    result = compare({"m-1": row(3, 2)}, {"m-1": row(5, 1)})
    assert result.differ == ["m-1"]


def test_slot_one_is_the_original_tables_and_slot_two_the_v2_pair() -> None:
    assert [(stats_table(s), trending_table(s)) for s in SLOTS] == [
        ("movie_stats", "movie_trending"),
        ("movie_stats_v2", "movie_trending_v2"),
    ]
    assert (other_slot(1), other_slot(2)) == (2, 1)


def test_the_upserts_write_the_table_they_are_given() -> None:
    assert "INSERT INTO movie_stats_v2 AS stored" in upsert_sql("movie_stats_v2")
    both = flush_sql("movie_stats_v2", "movie_trending_v2")
    assert "INSERT INTO movie_stats_v2 AS stored" in both
    assert "INSERT INTO movie_trending_v2 AS stored" in both


def test_the_job_of_a_slot_carries_its_tables_through_the_job_scripts_arguments() -> None:
    config = job_config(Settings.from_env({}), name="movieviews-v2", slot=2)
    parsed, _ = from_args(to_args(config))
    assert (parsed.stats_table, parsed.trending_table) == ("movie_stats_v2", "movie_trending_v2")
    assert parsed == config


def test_switching_replaces_the_view_with_the_slots_table() -> None:
    text = view_sql("movie_stats_current", "movie_stats_v2").as_string(None)
    assert text == 'CREATE OR REPLACE VIEW "movie_stats_current" AS SELECT * FROM "movie_stats_v2"'

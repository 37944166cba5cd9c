"""The API's metric families: names, label values, the freshness figure, operations of requests."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from readmodel.exposition import exposition
from readmodel.graphql_endpoint import classify
from readmodel.metrics import LATENCY_BUCKETS, RECORD_VIEWS_BY_OUTCOME, Pending, operation_of


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_every_family_has_a_sample_before_any_request() -> None:
    names = {name for name, _ in samples(exposition(None, {}))}
    assert {
        "movieviews_api_request_duration_seconds_count",
        "movieviews_api_record_views_total",
        "movieviews_api_response_cache_requests_total",
        "movieviews_api_subscriptions_open",
        "movieviews_api_rate_limit_refusals_total",
    } <= names
    assert "movieviews_readmodel_freshness_seconds" not in names  # no snapshot yet: no figure


def test_freshness_and_log_end_offsets_are_measured_at_scrape() -> None:
    newest = datetime.now(UTC) - timedelta(seconds=30)
    got = samples(exposition(newest, {("movie-views", 3): 42}))
    assert 30 <= got[("movieviews_readmodel_freshness_seconds", ())] < 40
    assert got[("movieviews_readmodel_newest_snapshot_timestamp_seconds", ())] == newest.timestamp()
    # the topic written as Flink's reporter writes the source's labels, so the two can be joined
    assert got[("movieviews_kafka_log_end_offset", (("partition", "3"), ("topic", "movie_views")))] == 42


def test_free_space_of_the_checkpoints_filesystem_is_measured_at_scrape(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    got = samples(exposition(None, {}, tmp_path))
    path = (("path", str(tmp_path)),)
    assert got[("movieviews_filesystem_size_bytes", path)] == usage.total
    # other processes write meanwhile: the same figure within a few MB
    assert abs(got[("movieviews_filesystem_avail_bytes", path)] - usage.free) < 64 * 2**20


def test_a_checkpoints_folder_that_is_missing_gives_no_disk_figure(tmp_path: Path) -> None:
    names = {name for name, _ in samples(exposition(None, {}, tmp_path / "missing"))}
    assert not {n for n in names if n.startswith("movieviews_filesystem_")}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ topMovies(limit: 3) { entries { rank } } }", (True, "topMovies")),
        ('query Q { movie(id: "m") { id } }', (True, "movie")),
        ('mutation { recordView(movieId: "m") { eventId } }', (False, "recordView")),
        ("{ __typename }", (True, "other")),
        ("{ not valid", (False, "other")),
    ],
)
def test_requests_are_timed_under_their_root_field(query: str, expected: tuple[bool, str]) -> None:
    assert classify(orjson.dumps({"query": query})) == expected


def test_operation_falls_back_to_the_route_name_and_never_to_an_unknown_value() -> None:
    class Route:
        name = "rest_record_view"

    assert operation_of({"route": Route()}) == "rest_record_view"
    assert operation_of({"state": {"operation": "topMovies"}, "route": Route()}) == "topMovies"
    assert operation_of({"state": {"operation": "m-123"}}) == "other"
    assert operation_of({}) == "other"


def test_figures_counted_in_memory_reach_each_bucket_and_counter_when_flushed() -> None:
    pending = Pending()
    before = samples(exposition(None, {}))

    def added() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        now = samples(exposition(None, {}))
        return {
            key: now[key] - before.get(key, 0.0)
            for key in now
            if key[0].startswith("movieviews_api_") and now[key] != before.get(key, 0.0)
        }

    pending.observe("healthz", 0.0005)  # on the first bound: in it, as Histogram.observe counts
    pending.observe("healthz", 0.0007)
    pending.observe("healthz", 20.0)  # past the last bound: +Inf only
    pending.count(RECORD_VIEWS_BY_OUTCOME["failed"])
    pending.count(RECORD_VIEWS_BY_OUTCOME["failed"])
    assert added() == {}  # nothing written before the flush
    pending.flush()
    got = added()
    seconds = "movieviews_api_request_duration_seconds"
    healthz = ("operation", "healthz")
    assert got.pop((f"{seconds}_sum", (healthz,))) == pytest.approx(20.0012)
    assert got == {
        (f"{seconds}_bucket", (("le", "0.0005"), healthz)): 1.0,
        **{
            (f"{seconds}_bucket", (("le", le), healthz)): 2.0
            for le in map(str, LATENCY_BUCKETS[1:])  # as prometheus_client writes them
        },
        (f"{seconds}_bucket", (("le", "+Inf"), healthz)): 3.0,
        (f"{seconds}_count", (healthz,)): 3.0,
        ("movieviews_api_record_views_total", (("outcome", "failed"),)): 2.0,
    }
    pending.flush()
    assert added() == got | {(f"{seconds}_sum", (healthz,)): pytest.approx(20.0012)}  # flushed once

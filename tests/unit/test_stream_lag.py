"""The lag of a job's group (stream/lag.py) and its gauge on the API's /metrics, without a broker."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from readmodel.exposition import exposition
from stream.config import DEFAULT_GROUP_ID, JOB_NAME
from stream.lag import Positions, group_of


def test_lag_is_the_log_end_minus_the_committed_offset_or_the_log_start_without_one() -> None:
    found = Positions(
        start={("v", 0): 0, ("v", 1): 40, ("m", 0): 0},
        end={("v", 0): 100, ("v", 1): 50, ("m", 0): 3},
        committed={("v", 0): 100, ("m", 0): 1},
    )
    assert found.lag() == {("m", 0): 2, ("v", 0): 0, ("v", 1): 10}


def test_the_stacks_own_job_keeps_its_first_group_and_every_other_job_reads_as_its_name() -> None:
    assert group_of(JOB_NAME) == DEFAULT_GROUP_ID
    assert group_of("movieviews-v2") == "movieviews-v2"


def test_each_jobs_lag_is_exported_per_partition_with_names_as_flinks_reporter_writes_them() -> None:
    text = exposition(None, {}, lags={"movieviews-v2": {("movie-views", 1): 7}}).decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "movieviews_job_lag_records"
    }
    labels = (("job_name", "movieviews_v2"), ("partition", "1"), ("topic", "movie_views"))
    assert found == {("movieviews_job_lag_records", labels): 7}

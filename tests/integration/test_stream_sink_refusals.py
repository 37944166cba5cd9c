"""The job's Postgres sink (UpsertSink.java) against the stack's Postgres, the rows fed straight into it by a
job of its own (sink_job.py): a row Postgres refuses for its own data becomes a dead letter while every other
row is written and the job never fails; a failure of the database itself is retried and fails the job, which
restarts and loses nothing, with no dead letter. Its guard: an older snapshot never overwrites a newer one,
and a batch holding one movie twice applies its rows in order."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from deploy.cli.dlq import read
from deploy.flink import standalone
from deploy.jars import stream_jar
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.wait import wait_until
from stream import flinkrest
from stream.config import WRITER_ROLE
from stream.taskmanager.deadletters import DeadLetter
from stream.upsert import UPSERT_SQL

JOB = Path(__file__).with_name("sink_job.py")
# Python start-up on a busy 2-core machine, then a few statements.
FINISH_S = 300
MS = 1_700_000_000_000
POISON = "a\u0000b"


def snapshot(movie: str, views: int) -> list[object]:
    return [movie, "Heat", 1995, "crime", views, views * 60, MS, MS + views, views]


GOOD = [snapshot(f"m-{i:02}", i + 1) for i in range(20)]


def run_sink(settings: Settings, rows: list[list[object]]) -> str:
    """Submits sink_job.py with `rows` for the sink; returns the job id."""
    paths = StatePaths(settings.home)
    out = standalone.flink_cli(
        paths,
        "run",
        "-d",
        "-m",
        settings.flink_rest.removeprefix("http://"),
        "-py",
        str(JOB),
        json.dumps(rows),
        settings.writer_jdbc_url,
        WRITER_ROLE,
        settings.pg_writer_password,
        settings.kafka_bootstrap,
        settings.dlq_topic,
        str(stream_jar(paths)),
        timeout_s=420,
    )
    found = re.search(r"JobID ([0-9a-f]{32})", out)
    assert found, out
    return found.group(1)


@pytest.fixture
def job_ids(stack: Settings) -> Iterator[list[str]]:
    """The jobs a test submits; any still alive at its end is cancelled."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        if flinkrest.job_state(stack, job_id) in flinkrest.ALIVE:
            flinkrest.cancel(stack, job_id)


def finished(settings: Settings, job_id: str) -> Callable[[], bool]:
    def check() -> bool:
        state = flinkrest.job_state(settings, job_id)
        assert state not in (flinkrest.JobState.FAILED, flinkrest.JobState.CANCELED), state
        return state == flinkrest.JobState.FINISHED

    return check


def stored(settings: Settings) -> dict[str, tuple[int, int]]:
    with psycopg.connect(settings.reader_dsn) as conn:
        rows = conn.execute("SELECT movie_id, view_count, version FROM movie_stats").fetchall()
    return {movie: (views, version) for movie, views, version in rows}


def dead_letters(settings: Settings) -> list[DeadLetter]:
    return read(settings, f"test-{settings.dlq_topic}", commit=False)


@pytest.fixture
def dlq(fresh_database: Settings, topic_factory: Callable[..., str]) -> Settings:
    return dataclasses.replace(fresh_database, dlq_topic=topic_factory("dlq", 1))


def test_a_row_postgres_refuses_is_a_dead_letter_and_every_other_row_is_written_without_a_restart(
    dlq: Settings, job_ids: list[str]
) -> None:
    poisoned = snapshot(POISON, 7)
    job_ids.append(job_id := run_sink(dlq, [*GOOD[:10], poisoned, *GOOD[10:]]))

    wait_until(finished(dlq, job_id), FINISH_S, "the sink job finished")

    assert stored(dlq) == {row[0]: (row[4], row[8]) for row in GOOD}
    [letter] = dead_letters(dlq)
    assert (letter.reason, letter.source_topic, letter.partition, letter.offset) == (
        "refused-by-postgres",
        "postgres-upsert",
        -1,
        -1,
    )
    assert letter.detail.startswith('movie_id "a\\u0000b": SQLSTATE 22021: ')
    assert json.loads(letter.payload) == poisoned
    assert flinkrest.failures(dlq, job_id) == []


def test_a_database_that_cannot_be_reached_fails_the_job_until_it_can_and_nothing_is_lost_or_dead_lettered(
    database_later: tuple[Settings, Callable[[], object]],
    topic_factory: Callable[..., str],
    job_ids: list[str],
) -> None:
    # The sink's database does not exist yet: every connection is refused (SQLSTATE 3D000), as while
    # Postgres is down, until the test creates it.
    missing, create = database_later
    missing = dataclasses.replace(missing, dlq_topic=topic_factory("dlq", 1))
    job_ids.append(job_id := run_sink(missing, GOOD))

    wait_until(
        lambda: bool(flinkrest.failures(missing, job_id)), FINISH_S, "the sink's upsert failed the job"
    )
    [first, *_] = flinkrest.failures(missing, job_id)
    assert "rows failed 4 times (SQLSTATE 3D000)" in first
    assert dead_letters(missing) == []

    create()
    wait_until(finished(missing, job_id), FINISH_S, "the restarted sink job finished")
    assert stored(missing) == {row[0]: (row[4], row[8]) for row in GOOD}
    assert dead_letters(missing) == []


def test_an_older_snapshot_never_overwrites_a_newer_one_and_a_batch_with_a_movie_twice_applies_in_order(
    dlq: Settings, job_ids: list[str]
) -> None:
    # Stored at version 6 before the job: its version 4 arrives late.
    with psycopg.connect(dlq.writer_dsn) as conn:
        conn.execute(UPSERT_SQL.replace("?", "%s"), [list(column) for column in zip(snapshot("m-c", 6))])
    rows = [
        *(snapshot("m-a", views) for views in (5, 3)),
        *(snapshot("m-b", views) for views in (1, 2, 3)),
        snapshot("m-c", 4),
    ]
    job_ids.append(job_id := run_sink(dlq, rows))

    wait_until(finished(dlq, job_id), FINISH_S, "the sink job finished")

    assert stored(dlq) == {"m-a": (5, 5), "m-b": (3, 3), "m-c": (6, 6)}
    assert flinkrest.failures(dlq, job_id) == []
    assert dead_letters(dlq) == []

"""`movieviews rebuild`'s recovery paths (deploy/rebuild.py) on a lineage of test jobs of their own: a
rollback after a switch, dropping the old version, a comparison that fails, and a live job restarting when
it is to stop. Each ends with exact counts in Postgres and through GraphQL, read by a client polling a real
API all along, which sees no error and no count go down (the whole rebuild under load is the `rebuild`
drill)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from forwarded_database import Database

from deploy import rebuild
from deploy.errors import DeployError
from deploy.flink import jobs
from deploy.flink.checkpoints import remove_job_state
from deploy.paths import StatePaths
from deploy.rebuild import LiveJob, RebuildError
from deploy.settings import Settings
from deploy.testing import wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import generate
from readmodel import apikeys, versions
from readmodel.app import create_app
from readmodel.client import GraphQLClient, GraphQLClientError
from stream import flinkrest
from stream.errors import FlinkRestError
from stream.upsert import stats_table

# A job's start on a busy 2-core machine (~30 s), a restore, the sink's retries and a restart delay of up to
# 30 s: a stuck step, not a slow one.
DEADLINE_S = 240
MOVIES = 8
# The reader's pace: often enough to be reading at every step, seldom enough to leave the CPU to the jobs.
READ_EVERY_S = 0.1


@dataclasses.dataclass
class Reader:
    """topMovies polled through a real API (uvicorn in a thread, on a port of its own) until `stop`."""

    url: str
    key: str
    requests: int = 0
    errors: int = 0
    decreases: int = 0

    def counts(self) -> dict[str, int]:
        with GraphQLClient(self.url, self.key) as client:
            entries = client.top_movies(100)["entries"]
        return {entry["movie"]["id"]: int(entry["viewCount"]) for entry in entries}

    def poll(self, done: threading.Event) -> None:
        seen: dict[str, int] = {}
        while not done.wait(READ_EVERY_S):
            self.requests += 1
            try:
                counts = self.counts()
            except (GraphQLClientError, httpx.HTTPError, ValueError, KeyError):
                self.errors += 1
                continue
            self.decreases += sum(count < seen.get(movie, 0) for movie, count in counts.items())
            seen.update(counts)

    def wait_for(self, truth: dict[str, int]) -> None:
        wait_until(lambda: self.counts() == truth, DEADLINE_S, f"GraphQL answering {truth}")


@pytest.fixture
def reader(isolated: Settings) -> Iterator[Reader]:
    app = create_app(isolated)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    wait_until(lambda: server.started, 60, "the test's API")
    port = server.servers[0].sockets[0].getsockname()[1]
    key = apikeys.create(isolated.owner_dsn, isolated.api_key_pepper, "rebuild-reader", ["admin"], 100_000)
    found = Reader(f"http://127.0.0.1:{port}", key)
    done = threading.Event()
    polling = threading.Thread(target=found.poll, args=(done,), daemon=True)
    polling.start()
    yield found
    done.set()
    polling.join(30)
    server.should_exit = True
    serving.join(30)


@pytest.fixture
def lineage(isolated: Settings, job_name: str) -> Iterator[LiveJob]:
    """The test's live job lineage (`job_name`, `job_name`-v2); afterwards every job of it is cancelled and
    its state, kept savepoint included, removed."""
    live = LiveJob(job_name, job_name)
    yield live
    paths = StatePaths(isolated.home)
    ours = [job for job in flinkrest.jobs(isolated) if job.name in {live.name_in(1), live.name_in(2)}]
    for job in ours:
        with contextlib.suppress(FlinkRestError):
            if job.alive:
                flinkrest.cancel(isolated, job.job_id)
    with contextlib.suppress(FlinkRestError):
        wait_until(
            lambda: all(flinkrest.job_state(isolated, job.job_id) in flinkrest.ENDED for job in ours),
            60,
            f"the jobs of {job_name} ended",
        )
    for job in ours:
        remove_job_state(paths.checkpoints, paths.savepoints, job.job_id)
    (paths.run / f"{job_name}.versions.json").unlink(missing_ok=True)


def load(settings: Settings, truth: Counter[str], seed: int) -> dict[str, int]:
    """300 more views over the test's movies, acknowledged, added to `truth`; returns the whole truth."""
    sent = generate(settings, events=300, movies=MOVIES, seed=seed)
    assert sent.failed == 0
    truth.update(sent.per_movie)
    return dict(truth)


def alive_ids(settings: Settings, name: str) -> list[str]:
    return [job.job_id for job in flinkrest.alive(settings, name)]


def on_disk(savepoint: str | int) -> Path:
    """A savepoint's directory: Flink names it by URI (`file:/...`)."""
    return Path(str(savepoint).removeprefix("file:"))


def slot_rows(settings: Settings, slot: int) -> int:
    with psycopg.connect(settings.owner_dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM {stats_table(slot)}").fetchone()  # a constant table name
    return int(row[0]) if row else -1


def test_a_rollback_after_a_switch_puts_readers_back_on_the_old_version_and_drop_old_lets_the_other_go(
    isolated: Settings, lineage: LiveJob, reader: Reader
) -> None:
    paths, said = StatePaths(isolated.home), list[str]()
    first_live = jobs.submit(isolated, lineage.config(isolated, 1))
    truth: Counter[str] = Counter()
    wait_for_counts(isolated, load(isolated, truth, seed=1), DEADLINE_S)

    switched = rebuild.rebuild(isolated, paths, lineage, said.append, DEADLINE_S, False)
    assert (switched.slot, versions.current_slot(isolated.owner_dsn)) == (2, 2)
    assert alive_ids(isolated, lineage.name_in(1)) == []
    wait_for_counts(isolated, load(isolated, truth, seed=2), DEADLINE_S)

    # Back to slot 1: its job resumes from the savepoint kept at the switch and catches up with what slot 2
    # counted since, before readers move.
    kept = rebuild.kept(paths, lineage)
    assert kept is not None and (kept["slot"], kept["job_id"]) == (1, first_live)
    assert on_disk(kept["savepoint"]).is_dir()
    back = rebuild.rollback(isolated, paths, lineage, said.append, DEADLINE_S)
    assert (back.slot, versions.current_slot(isolated.owner_dsn)) == (1, 1)
    assert alive_ids(isolated, lineage.name_in(1)) == [back.job_id]
    assert alive_ids(isolated, lineage.name_in(2)) == []
    assert not on_disk(kept["savepoint"]).exists()  # restored from, then let go once it checkpointed
    truth_now = load(isolated, truth, seed=3)
    wait_for_counts(isolated, truth_now, DEADLINE_S)
    reader.wait_for(truth_now)

    # Slot 2 is the old version now: dropping it empties its rows and removes its job's state.
    dropped = rebuild.kept(paths, lineage)
    assert dropped is not None and (dropped["slot"], dropped["job_id"]) == (2, switched.job_id)
    assert on_disk(dropped["savepoint"]).is_dir() and (paths.checkpoints / switched.job_id).is_dir()
    rebuild.drop_old(isolated, paths, lineage, said.append)
    assert slot_rows(isolated, 2) == 0
    assert slot_rows(isolated, 1) == MOVIES
    assert rebuild.kept(paths, lineage) is None
    assert not (paths.checkpoints / switched.job_id).exists()
    assert not on_disk(dropped["savepoint"]).exists()
    truth_now = load(isolated, truth, seed=4)
    wait_for_counts(isolated, truth_now, DEADLINE_S)
    reader.wait_for(truth_now)
    assert reader.requests > 0 and (reader.errors, reader.decreases) == (0, 0)


def test_a_rebuild_that_compares_unequal_resumes_the_live_job_empties_its_slot_and_never_switches_readers(
    isolated: Settings, lineage: LiveJob, reader: Reader
) -> None:
    paths, said = StatePaths(isolated.home), list[str]()
    first_live = jobs.submit(isolated, lineage.config(isolated, 1))
    truth: Counter[str] = Counter()
    wait_for_counts(isolated, load(isolated, truth, seed=1), DEADLINE_S)
    # A row changed by hand in the live version: the rebuild, from the log, cannot agree with it.
    doctored = min(truth)
    with psycopg.connect(isolated.owner_dsn) as conn:
        conn.execute(f"UPDATE {stats_table(1)} SET title = 'by hand' WHERE movie_id = %s", (doctored,))

    with pytest.raises(RebuildError, match=rf"slot 2 differs from slot 1: .*1 differ \(e\.g\. {doctored}\)"):
        rebuild.rebuild(isolated, paths, lineage, said.append, DEADLINE_S, False)

    assert versions.current_slot(isolated.owner_dsn) == 1
    assert versions.is_empty(isolated.owner_dsn, 2)
    assert rebuild.kept(paths, lineage) is None
    assert alive_ids(isolated, lineage.name_in(2)) == []
    [resumed] = alive_ids(isolated, lineage.name_in(1))
    assert resumed != first_live
    assert any(line.startswith(f"{lineage.name} resumed from ") for line in said)
    truth_now = load(isolated, truth, seed=2)
    wait_for_counts(isolated, truth_now, DEADLINE_S)
    reader.wait_for(truth_now)
    assert reader.requests > 0 and (reader.errors, reader.decreases) == (0, 0)


def test_a_rebuild_whose_live_job_is_restarting_at_the_stop_gives_up_and_the_live_job_keeps_serving(
    isolated: Settings,
    lineage: LiveJob,
    reader: Reader,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # The stop's retries are bounded by the test's own deadline: nothing it waits for comes while the live
    # job's database is away.
    monkeypatch.setattr(jobs, "STOP_RETRY_S", 30)
    database = Database(isolated)
    database.up()
    request.addfinalizer(database.down)
    config = dataclasses.replace(
        lineage.config(isolated, 1),
        jdbc_url=f"jdbc:postgresql://127.0.0.1:{database.port}/{isolated.pg_database}",
    )
    live_id = jobs.submit(isolated, config)
    truth: Counter[str] = Counter()
    wait_for_counts(isolated, load(isolated, truth, seed=1), DEADLINE_S)

    def cut(line: str, said: list[str]) -> None:
        """Takes the live job's database away once the rebuild caught up and is about to stop it, and
        sends it views it can never write: it restarts in a loop."""
        said.append(line)
        if " caught up with " in line:
            database.down()
            load(isolated, truth, seed=2)
            wait_until(
                lambda: flinkrest.job_metrics(isolated, live_id, ["numRestarts"])["numRestarts"] >= 1,
                DEADLINE_S,
                f"{lineage.name} restarting",
            )

    paths, said = StatePaths(isolated.home), list[str]()
    try:
        # Refused at every try, or never all its tasks running, until the deadline.
        stuck = rf"{lineage.name} did not stop with a savepoint|every task of {lineage.name} running"
        with pytest.raises(DeployError, match=stuck):
            rebuild.rebuild(isolated, paths, lineage, lambda line: cut(line, said), DEADLINE_S, False)
    finally:
        database.up()

    assert any(" caught up with " in line for line in said)
    assert versions.current_slot(isolated.owner_dsn) == 1
    assert versions.is_empty(isolated.owner_dsn, 2)
    assert rebuild.kept(paths, lineage) is None
    assert alive_ids(isolated, lineage.name_in(2)) == []
    assert alive_ids(isolated, lineage.name_in(1)) == [live_id]
    # Its database back, the live job writes what it could not: nothing was lost.
    truth_now = dict(truth)
    wait_for_counts(isolated, truth_now, DEADLINE_S)
    reader.wait_for(truth_now)
    assert reader.requests > 0 and (reader.errors, reader.decreases) == (0, 0)

"""The sandbox the drills and the benchmarks share: its own topics, database, job and API on the running stack
for one run, and the check of its counts against ground truth.

A run in a sandbox never touches the demo's data: it makes fresh topics and a fresh database, submits its
own job to the cluster, and starts its own API process on a free port pointed at that database. Ground truth
is the load generator's record of acknowledged events; the verdict compares it per movie with Postgres and
with GraphQL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from deploy import procs, progress
from deploy.errors import DrillError
from deploy.flink import jobs
from deploy.flink.checkpoints import latest_restore_point, remove_job_state
from deploy.kafka import broker
from deploy.kafka import security as kafka_security
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.settings import REPO_ROOT, Settings
from deploy.system import api_healthy
from deploy.testing import stored_counts
from deploy.wait import wait_until
from ingest.topics import delete_topics, ensure_topics
from readmodel import apikeys
from readmodel.client import GraphQLClient, GraphQLClientError
from readmodel.migrate import upgrade
from stream import flinkrest
from stream.errors import StreamError

# Time for the job to reach exact totals once the load has stopped: a restart from a checkpoint replays at
# most a checkpoint interval of events, in seconds; the rest is headroom for a loaded 2-core machine.
SETTLE_TIMEOUT_S = 240
# API probes record their views on a movie of their own: a recordView that timed out during an outage may
# still reach the log later (its outcome is unknown), so probes stay out of the load's ground truth.
PROBE_MOVIE = "probe-outage"
# Requests/s for the sandbox's own key: its checks ask for every movie of the load in a burst.
KEY_RATE = 100_000


@dataclass
class Verdict:
    events: int
    movies: int
    lost: int
    double_counted: int
    wrong_movies: int

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.double_counted == 0 and self.wrong_movies == 0


def compare(truth: dict[str, int], stored: dict[str, int]) -> Verdict:
    keys = truth.keys() | stored.keys()
    lost = sum(max(0, truth.get(m, 0) - stored.get(m, 0)) for m in keys)
    double = sum(max(0, stored.get(m, 0) - truth.get(m, 0)) for m in keys)
    wrong = sum(1 for m in keys if truth.get(m, 0) != stored.get(m, 0))
    return Verdict(sum(truth.values()), len(truth), lost, double, wrong)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """Fresh topics and database for one drill or benchmark, its job and API, and the checks against ground
    truth."""

    def __init__(self, base: Settings, name: str) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.name = f"drill-{name}-{suffix}"
        self.paths = StatePaths(base.home)
        self.base = base
        self.settings = dataclasses.replace(
            base,
            views_topic=f"{self.name}-views",
            movies_topic=f"{self.name}-movies",
            dlq_topic=f"{self.name}-dlq",
            schemas_topic=f"{self.name}-schemas",
            pg_database=f"drill_{name.replace('-', '_')}_{suffix}",
            api_port=free_port(),
            api_workers=1,
        )
        self.job_id: str | None = None
        self._api: int | None = None
        self.api_key = ""

    def __enter__(self) -> Sandbox:
        ensure_topics(self.settings.kafka_admin, broker.topics(self.settings))
        # The API and the job may use the sandbox's topics and the job its group (named after the sandbox).
        kafka_security.grant(self.settings, group_prefix=self.name)
        with psycopg.connect(postgres.admin_conninfo(self.base), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER mv_owner").format(sql.Identifier(self.settings.pg_database))
            )

        upgrade(self.settings.owner_url)
        # The sandbox's API is a client like any other: its probes and checks send a key of their own.
        self.api_key = apikeys.create(
            self.settings.owner_dsn, self.settings.api_key_pepper, self.name, ["admin"], KEY_RATE
        )
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            if self.job_id:
                flinkrest.cancel(self.settings, self.job_id)
        # Every job run in this sandbox is named after it: their checkpoints and savepoints go too.
        with contextlib.suppress(Exception):
            for job in flinkrest.jobs(self.settings):
                if job.name.startswith(self.name):
                    jobs.end(self.settings, job.job_id)
                    remove_job_state(self.paths.checkpoints, self.paths.savepoints, job.job_id)
        if self._api:
            procs.stop(self._api)
        with contextlib.suppress(Exception):
            delete_topics(self.base.kafka_admin, [spec.name for spec in broker.topics(self.settings)])
        with contextlib.suppress(Exception):
            kafka_security.revoke(self.settings, group_prefix=self.name)
        with (
            contextlib.suppress(Exception),
            psycopg.connect(postgres.admin_conninfo(self.base), autocommit=True) as conn,
        ):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.settings.pg_database)
                )
            )

    # -- the job --------------------------------------------------------------------------------------------
    def submit(self, parallelism: int | None = None, restore_from: str | None = None) -> str:
        config = jobs.job_config(self.settings, name=self.name, group_id=self.name, parallelism=parallelism)
        self.job_id = jobs.submit(self.settings, config, restore_from)
        wait_until(lambda: self.job_state() == flinkrest.JobState.RUNNING, 120, f"job {self.name} running")
        return self.job_id

    def job_state(self) -> str | None:
        if self.job_id is None:
            return None
        try:
            return flinkrest.job_state(self.settings, self.job_id)
        except StreamError:
            return None

    def restarts(self) -> int:
        """Times Flink restarted the sandbox's job (its `numRestarts`)."""
        return flinkrest.restarts(self.settings, str(self.job_id))

    def latest_checkpoint(self) -> str:
        if self.job_id is None:
            raise DrillError(f"drill {self.name} has submitted no job")
        found = latest_restore_point(self.paths.checkpoints, self.paths.savepoints, self.job_id)
        if found is None:
            raise DrillError(f"job {self.job_id} retained no checkpoint under {self.paths.checkpoints}")
        return str(found)

    # -- the API --------------------------------------------------------------------------------------------
    @property
    def api_pid(self) -> int:
        """The sandbox's API process (one worker), once started: what a benchmark measures the CPU of."""
        if self._api is None:
            raise DrillError(f"drill {self.name}: start_api() first")
        return self._api

    def start_api(self, workers: int = 1) -> str:
        """Starts the sandbox's API once; later calls return the same one."""
        if self._api is not None and procs.is_alive(self._api):
            return self.settings.api_url

        # The sandbox's settings whole (the cluster profile's ports too), with its own worker count.
        env = {**os.environ, **dataclasses.replace(self.settings, api_workers=workers).to_env()}
        log = self.paths.logs / f"{self.name}-api.log"
        pid_file = self.paths.run / f"{self.name}-api.pid"
        movieviews = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv")) / "bin" / "movieviews"
        self._api = procs.spawn([str(movieviews), "serve"], pid_file, log, env, REPO_ROOT)

        wait_until(lambda: api_healthy(self.settings), 60, f"the sandbox API on {self.settings.api_port}")
        return self.settings.api_url

    # -- the truth ------------------------------------------------------------------------------------------
    def stored(self) -> dict[str, int]:
        return {m: n for m, n in stored_counts(self.settings).items() if m != PROBE_MOVIE}

    def settle(self, truth: dict[str, int], timeout_s: float = SETTLE_TIMEOUT_S) -> tuple[Verdict, float]:
        """Polls Postgres until it equals the truth or the deadline passes; returns verdict and wait."""
        start = time.monotonic()
        total = sum(truth.values())

        def exact(step: progress.Step) -> bool:
            stored = self.stored()
            step.update(sum(stored.values()), detail=f"{len(stored):,}/{len(truth):,} movies")
            return stored == truth

        with (
            progress.working(f"{self.name}: waiting for Postgres to hold the exact counts", total) as step,
            contextlib.suppress(Exception),
        ):
            wait_until(lambda: exact(step), timeout_s, "exact totals", interval_s=0.5)
        return compare(truth, self.stored()), time.monotonic() - start

    def graphql_counts(self, movie_ids: list[str]) -> dict[str, int]:
        with GraphQLClient(self.settings.api_url, self.api_key) as client:
            counts = {m: client.view_count(m) for m in movie_ids}
        return {m: c for m, c in counts.items() if c is not None}


class Background:
    """Runs a load function in a thread and keeps its result (or exception) for the drill or benchmark to
    collect; once collected, the work is expected to end by itself within `timeout_s`."""

    def __init__(self, work: Callable[[], Any], timeout_s: float = 600) -> None:
        self._timeout_s = timeout_s
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self._result = work()
        except BaseException as exc:
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> Any:
        self._thread.join(self._timeout_s)
        if self._thread.is_alive():
            raise DrillError(f"the background load still ran {self._timeout_s:.0f}s later: no ground truth")
        if self._error:
            raise self._error
        return self._result


# A reader polls the top of the ranking as fast as one client does.
READER_TOP = 100


def read_while(api: str, key: str, done: threading.Event) -> tuple[int, int, int]:
    """topMovies polled until `done`: requests, failed ones, and times a movie's count went down."""
    seen: dict[str, int] = {}
    requests = errors = decreases = 0
    with GraphQLClient(api, key) as client:
        while not done.is_set():
            requests += 1
            try:
                entries = client.top_movies(READER_TOP)["entries"]
            except (GraphQLClientError, httpx.HTTPError, ValueError, KeyError):
                errors += 1
                continue
            for entry in entries:
                movie, count = entry["movie"]["id"], int(entry["viewCount"])
                decreases += count < seen.get(movie, 0)
                seen[movie] = max(count, seen.get(movie, 0))
    return requests, errors, decreases

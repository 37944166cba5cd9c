"""Self-healing drills: the stack recovers by itself (or with one `up` after a power cut), counts exact.

Each runs under load on its own topics, database and job (deploy/sandbox.py) and compares the acknowledged
events per movie with Postgres and GraphQL.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import psycopg

from deploy import leftovers, procs, stack, supervisor, system
from deploy.drills import steps
from deploy.drills.steps import SECONDS, DrillReport
from deploy.kafka import broker
from deploy.postgres import server as postgres
from deploy.sandbox import Sandbox
from deploy.settings import Settings
from deploy.wait import wait_until
from ingest.loadgen import LoadResult
from readmodel.client import MOVIE, RECORD_VIEW
from stream import flinkrest

# A real outage: three times the cap of the job's restart delays (30 s), so the job restarts several times
# and waits at its capped delay before the service returns.
LONG_OUTAGE_S = 90
# The load of the long outage is slower: its producer buffers the outage's events while Kafka is down.
LONG_OUTAGE_RATE = 1_000
# The same job must come back by itself: restarts (capped at 30 s apart) plus a loaded machine's start.
JOB_BACK_TIMEOUT_S = 180
API_CLIENTS = 4
API_DRILL_S = 20


def _same_job_running(env: Sandbox) -> bool:
    with contextlib.suppress(Exception):
        return env.job_state() == flinkrest.JobState.RUNNING and steps.tasks_running(env)
    return False


def _healthy(program: str, settings: Settings) -> bool:
    check = postgres.healthy if program == postgres.COMPONENT else broker.healthy
    return check(settings)[0]


def postgres_kill(base: Settings) -> DrillReport:
    """SIGKILL of the postmaster: the supervisor clears its orphaned backends and starts a new one; the job
    restarts by itself and the counts catch up. No `up`."""
    started = time.monotonic()
    with Sandbox(base, "postgres-kill") as env:
        env.submit()
        env.start_api()
        load = steps.load(env, SECONDS)
        time.sleep(random.uniform(3, SECONDS - 5))  # the random moment of the crash
        log_size = env.paths.log_file(postgres.COMPONENT).stat().st_size
        _busy_backend(env.base)
        killed = steps.kill9(env, postgres.COMPONENT)
        killed_at = time.monotonic()
        wait_until(lambda: postgres.healthy(env.base)[0], 180, "Postgres back by itself")
        back_s = time.monotonic() - killed_at
        with env.paths.log_file(postgres.COMPONENT).open("rb") as log:
            log.seek(log_size)
            repairs = [line.decode() for line in log if line.startswith(b"movieviews: repaired")]
        api_back = steps.api_recovers(env.settings.api_url, env.api_key)
        result: LoadResult = load.result()
        wait_until(lambda: _same_job_running(env), JOB_BACK_TIMEOUT_S, "the same job running again")
        notes = [
            f"postmaster {killed} killed; Postgres accepting again after {back_s:.1f}s",
            *(line.strip() for line in repairs),
            f"job {env.job_id} running again without resubmission after {env.restarts()} restart(s)",
            f"API answering again by itself: {api_back}",
        ]
        report = steps.finish(env, "postgres-kill", started, result.per_movie, back_s, notes)
        report.passed = report.passed and api_back and bool(repairs)
        return report


def _busy_backend(settings: Settings) -> None:
    """A backend busy in a long query when the postmaster dies: it does not notice and lives on holding the
    shared memory (idle backends exit by themselves), which is what kept a new postmaster from starting."""

    def query() -> None:
        with contextlib.suppress(psycopg.Error), psycopg.connect(postgres.admin_conninfo(settings)) as conn:
            conn.execute("SELECT count(*) FROM generate_series(1, 10000000000)")

    threading.Thread(target=query, daemon=True).start()
    wait_until(partial(_query_running, settings), 30, "the long query running")


def _query_running(settings: Settings) -> bool:
    with psycopg.connect(postgres.admin_conninfo(settings)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT count(*) FROM generate_series%'"
        ).fetchone()
    return bool(row and row[0])


def long_outage(base: Settings) -> DrillReport:
    """Postgres down for 90 s, then Kafka down for 90 s, under load: the job keeps restarting
    (capped backoff) and is running afterwards without resubmission; counts exact."""
    started = time.monotonic()
    with Sandbox(base, "long-outage") as env:
        env.submit()
        job_id = env.job_id
        # Load through both outages and the job's return after each (about a minute each on a loaded machine).
        seconds = 2 * (LONG_OUTAGE_S + 60)
        load = steps.load(env, seconds, rate=LONG_OUTAGE_RATE)
        notes = []
        recover = []
        _counts_moving(env)
        for program in (postgres.COMPONENT, broker.COMPONENT):
            supervisor.stop(env.paths, program)
            time.sleep(LONG_OUTAGE_S)  # the outage itself
            supervisor.start(env.paths, program)
            started_at = time.monotonic()
            wait_until(partial(_healthy, program, env.base), 180, f"{program} back")
            back_at = time.monotonic()
            wait_until(lambda: _same_job_running(env), JOB_BACK_TIMEOUT_S, "the same job running again")
            # Recovered: new counts reach Postgres again (the job may have stayed RUNNING through Kafka's).
            _counts_moving(env)
            recover.append(time.monotonic() - started_at)
            notes.append(
                f"{program} down {LONG_OUTAGE_S}s, healthy {back_at - started_at:.1f}s after its start; "
                f"counts moving again after {recover[-1]:.1f}s; same job {job_id}, "
                f"{env.restarts()} restart(s) so far"
            )
        result: LoadResult = load.result()
        report = steps.finish(env, "long-outage", started, result.per_movie, max(recover), notes)
        if env.job_id != job_id:
            report.passed = False
            report.notes.append("the job was resubmitted")
        return report


def _counts_moving(env: Sandbox) -> None:
    """Before an outage: the load reaches Postgres through the job (new counts since this was called)."""
    before = sum(env.stored().values())
    wait_until(lambda: sum(env.stored().values()) > before, JOB_BACK_TIMEOUT_S, "counts moving", 0.5)


def crash_all(base: Settings) -> DrillReport:
    """A power cut: SIGKILL of the supervisor and every process of the stack at one random moment, then
    `up`, which names its repairs. No HA service on one machine: the drill's job is resubmitted from its
    newest retained checkpoint, as `up` does for the stack's own job."""
    started = time.monotonic()
    with Sandbox(base, "crash-all") as env:
        env.submit()
        load = steps.load(env, SECONDS)
        wait_until(lambda: steps.has_checkpoint(env), 60, "a first retained checkpoint")
        time.sleep(random.uniform(2, 8))  # the random moment of the power cut
        was_up = {p.name for p in supervisor.info(env.paths) if p.state == "RUNNING"}
        main_job = system.job_running(base) is not None
        killed = _power_cut(env)
        cut_at = time.monotonic()
        lines: list[str] = []
        stack.up(base, env.paths, lines.append)
        if stack.API in was_up:
            system.start_api(base, env.paths)
        if main_job:
            system.start_job(base, env.paths, lines.append)
        restore = env.latest_checkpoint()
        env.submit(restore_from=restore)
        recover_s = time.monotonic() - cut_at
        result: LoadResult = load.result()
        repairs = [line for line in lines if line.startswith("repaired")]
        notes = [f"killed {killed} processes at once", *repairs, f"job resubmitted from {restore}"]
        return steps.finish(env, "crash-all", started, result.per_movie, recover_s, notes)


def _power_cut(env: Sandbox) -> int:
    folders = [program.cwd for program in stack.programs(env.base, env.paths)]
    victims = [each.pid for each in leftovers.find(folders)]
    root = supervisor.pid(env.paths)
    if root is not None:
        victims.append(root)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(procs.is_alive(p) for p in victims), 30, "every killed process gone")
    return len(victims)


@dataclass
class _Clients:
    """Threads recording views and reading counts through the API; what was acknowledged, and what was
    not (a request whose worker died: its outcome is unknown)."""

    url: str
    key: str
    acked: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    reads_ok: int = 0
    failed_after_kill: list[float] = field(default_factory=list)
    killed_at: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, timeout=10, headers=headers) as http:
            while not self.stop.is_set():
                movie = f"m-{rng.randint(1, 50):03d}"
                query, variables = (
                    (RECORD_VIEW, {"id": movie}) if rng.random() < 0.7 else (MOVIE, {"id": movie})
                )
                try:
                    body = http.post("/graphql", json={"query": query, "variables": variables}).json()
                    ok = not body.get("errors")
                except (httpx.HTTPError, ValueError):
                    ok = False
                with self.lock:
                    self._count(query, movie, ok)

    def _count(self, query: str, movie: str, ok: bool) -> None:
        # Only failures after the kill are the crash's: the recovery time is the last of them.
        if query == RECORD_VIEW:
            (self.acked if ok else self.unknown)[movie] += 1
        elif ok:
            self.reads_ok += 1
        if not ok and self.killed_at is not None:
            self.failed_after_kill.append(time.monotonic() - self.killed_at)


def api_kill(base: Settings) -> DrillReport:
    """SIGKILL of one API worker while clients read and write: the other worker keeps answering, uvicorn
    starts a new one, and every acknowledged recordView is counted."""
    started = time.monotonic()
    with Sandbox(base, "api-kill") as env:
        env.submit()
        clients = _Clients(env.start_api(workers=2), env.api_key)
        threads = [threading.Thread(target=clients.run, args=(i,), daemon=True) for i in range(API_CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(random.uniform(3, API_DRILL_S / 2))  # the random moment of the crash
        victim = random.choice(_workers(env.api_pid))
        os.kill(victim, signal.SIGKILL)
        clients.killed_at = time.monotonic()
        time.sleep(API_DRILL_S / 2)  # clients go on against the surviving and the new worker
        clients.stop.set()
        for thread in threads:
            thread.join(30)
        workers_back = _workers_back(env)
        acked = dict(clients.acked)
        # A recordView whose worker died has an unknown outcome: it may be in the log, so it may be counted.
        with contextlib.suppress(Exception):
            wait_until(lambda: _lost(acked, env.stored()) == 0, 240, "every acknowledged view counted", 0.5)
        stored = env.stored()
        lost = _lost(acked, stored)
        double = sum(max(0, stored.get(m, 0) - n - clients.unknown[m]) for m, n in acked.items())
        graphql_ok = env.graphql_counts(sorted(stored)) == stored
        report = DrillReport("api-kill", False, time.monotonic() - started, sum(acked.values()), len(acked))
        report.lost, report.double_counted = lost, double
        report.recover_s = max(clients.failed_after_kill, default=0.0)
        # No acknowledged view would prove nothing (a refused key, say): the drill needs acknowledged writes.
        report.passed = bool(acked) and lost == 0 and double == 0 and workers_back and graphql_ok
        report.notes = [
            f"worker {victim} killed; {sum(clients.unknown.values())} recordView(s) without an answer "
            f"(counted: {sum(stored.values()) - sum(acked.values())}); "
            f"{len(clients.failed_after_kill)} failed request(s) after the kill; {clients.reads_ok} reads ok",
            f"two workers serving again: {workers_back}; GraphQL equals Postgres: {graphql_ok}",
        ]
        return report


def _lost(acked: dict[str, int], stored: dict[str, int]) -> int:
    return sum(max(0, n - stored.get(m, 0)) for m, n in acked.items())


def _workers(master: int) -> list[int]:
    """uvicorn's worker processes under `master` (multiprocessing `spawn_main` children)."""
    children = []
    for task in Path(f"/proc/{master}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    workers = []
    for child in children:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes() and procs.is_alive(child):
                workers.append(child)
    return workers


def _workers_back(env: Sandbox) -> bool:
    with contextlib.suppress(Exception):
        wait_until(lambda: len(_workers(env.api_pid)) >= 2, 60, "two API workers")
        return True
    return False


DRILLS = {
    "postgres-kill": postgres_kill,
    "long-outage": long_outage,
    "crash-all": crash_all,
    "api-kill": api_kill,
}

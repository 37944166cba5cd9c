"""The steps several drills take: the load they break something under, a kill -9 of a supervised program, the
waits on the job and the API, and the report each drill ends in."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from deploy import procs, supervisor
from deploy.errors import DrillError
from deploy.sandbox import PROBE_MOVIE, Background, Sandbox, Verdict
from deploy.settings import Settings
from deploy.wait import wait_until
from ingest.loadgen import FLUSH_MARGIN_S, generate
from readmodel.client import RECORD_VIEW, TOP_MOVIES
from stream import flinkrest

# Load shape for every drill: modest, so the 2-core machine keeps up while a component is down and back.
RATE = 3_000
SECONDS = 20
MOVIES = 1_000
# The drills' producers retry each event this long, so every event is acknowledged in the end and the ground
# truth is exact: an event given up on might still be in the log. Shorter bounds made exact runs fail at high
# load: 30 s (kafka-restart: the broker back after 2 min at load 30, 2,252 events counted failed were in the
# log) and 300 s (crash-all: `up` after the power cut took 10 min at load 60, 9,749 such events). The flush
# returns as soon as the broker has acknowledged everything: only a broker that never returns waits this out.
RIDE_OUT_S = 900


@dataclass
class DrillReport:
    name: str
    passed: bool
    seconds: float
    events: int = 0
    movies: int = 0
    lost: int = 0
    double_counted: int = 0
    recover_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> str:
        recover = f"{self.recover_s:.1f}" if self.recover_s is not None else "-"
        return (
            f"{self.name:<18} {'PASS' if self.passed else 'FAIL':<5} {self.events:>8} {self.movies:>7} "
            f"{self.lost:>5} {self.double_counted:>7} {recover:>9} {self.seconds:>7.1f}"
        )


HEADER = (
    f"{'drill':<18} {'':<5} {'events':>8} {'movies':>7} {'lost':>5} {'double':>7} {'recover_s':>9} "
    f"{'took_s':>7}"
)

Drill = Callable[[Settings], DrillReport]


def load(
    env: Sandbox, seconds: float = SECONDS, seed: int | None = None, v2_share: float = 0.0, rate: int = RATE
) -> Background:
    """The drill's load in the background; its producer rides out any outage a drill stages (RIDE_OUT_S)."""
    return Background(
        lambda: generate(
            env.settings,
            rate=rate,
            seconds=seconds,
            movies=MOVIES,
            seed=seed,
            v2_share=v2_share,
            delivery_timeout_s=RIDE_OUT_S,
        ),
        timeout_s=seconds + RIDE_OUT_S + FLUSH_MARGIN_S,
    )


def _report(
    name: str, started: float, verdict: Verdict, graphql_ok: bool, recover_s: float | None, notes: list[str]
) -> DrillReport:
    if not graphql_ok:
        notes.append("GraphQL counts differ from Postgres")
    return DrillReport(
        name,
        verdict.exact and graphql_ok,
        time.monotonic() - started,
        verdict.events,
        verdict.movies,
        verdict.lost,
        verdict.double_counted,
        recover_s,
        notes,
    )


def finish(
    env: Sandbox, name: str, started: float, truth: dict[str, int], recover_s: float | None, notes: list[str]
) -> DrillReport:
    verdict, _ = env.settle(truth)
    env.start_api()
    graphql = env.graphql_counts(sorted(truth))
    return _report(name, started, verdict, graphql == truth, recover_s, notes)


def kill9(env: Sandbox, program: str) -> int:
    """SIGKILL of a supervised program's process; the supervisor is left to bring it back."""
    pid = supervisor.program_pid(env.paths, program)
    if pid is None:
        raise DrillError(f"{program} is not running")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not procs.is_alive(pid), 10, f"pid {pid} gone")
    return pid


def has_checkpoint(env: Sandbox) -> bool:
    try:
        env.latest_checkpoint()
    except DrillError:
        return False
    return True


def tasks_running(env: Sandbox) -> bool:
    return flinkrest.tasks_running(env.settings, str(env.job_id))


def api_error(api: str, key: str, mutation: bool = False) -> tuple[str, str] | None:
    """The first error of one `recordView` (or `topMovies`) call as (code, message); None: it succeeded."""
    query, variables = (RECORD_VIEW, {"id": PROBE_MOVIE}) if mutation else (TOP_MOVIES, {"limit": 5})
    body = httpx.post(
        f"{api}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    ).json()
    errors = body.get("errors") or []
    if not errors:
        return None
    return str((errors[0].get("extensions") or {}).get("code")), str(errors[0]["message"])


def api_recovers(api: str, key: str, mutation: bool = False) -> bool:
    try:
        wait_until(lambda: api_error(api, key, mutation) is None, 60, "the API answering again")
    except Exception:
        return False
    return True

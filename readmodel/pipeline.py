"""Pipeline health for the dashboard: the job's state, checkpoint and dead letters from Flink's REST API, the
read model's age and total, and views per second from successive totals."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from readmodel.store import MovieStatsStore
from stream import flinkrest
from stream.errors import StreamError

# One sample per period of the pipeline subscription; five minutes of them make the chart.
HISTORY = 150


@dataclass(frozen=True)
class JobHealth:
    state: str  # Flink's job state, NOT_RUNNING when no job of that name runs, UNREACHABLE without Flink
    last_checkpoint_age_s: float | None = None
    dead_letters: int | None = None


@dataclass(frozen=True)
class PipelineStatus:
    job: JobHealth
    total_views: int
    read_model_age_s: float | None
    # (when, views per second since the previous sample), oldest first
    rates: tuple[tuple[datetime, float], ...]


class PipelineProbe:
    def __init__(self, settings: flinkrest.FlinkSettings, store: MovieStatsStore, job_name: str) -> None:
        self._settings = settings
        self._store = store
        self._job_name = job_name
        self._last: tuple[float, int] | None = None
        self._rates: deque[tuple[datetime, float]] = deque(maxlen=HISTORY)

    async def status(self) -> PipelineStatus:
        total, updated_at = await self._store.totals()
        job = await asyncio.to_thread(self._job)
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            rate = max(0.0, (total - self._last[1]) / (now - self._last[0]))
            self._rates.append((datetime.now(UTC), rate))
        self._last = (now, total)
        age = None if updated_at is None else (datetime.now(UTC) - updated_at).total_seconds()
        return PipelineStatus(job, total, age, tuple(self._rates))

    def _job(self) -> JobHealth:
        try:
            alive = flinkrest.alive(self._settings, self._job_name)
            if not alive:
                return JobHealth("NOT_RUNNING")
            job_id = alive[0].job_id
            completed = flinkrest.last_completed(flinkrest.checkpoints(self._settings, job_id))
            age = None if completed is None else completed.age_s
            return JobHealth(alive[0].state, age, flinkrest.dead_letters(self._settings, job_id))
        except (StreamError, KeyError, TypeError, ValueError):
            return JobHealth("UNREACHABLE")

"""The pipeline's live figures for the GraphQL `pipeline` field and the dashboard: the job's state, checkpoint
and dead letters as a `JobWatch` reads them (deploy's, over Flink's REST API), its lag from Kafka
(`stream.lag`), the read model's age and total, and views per second from successive totals. Shown, never
judged: the verdict against the alert rules' bounds is `movieviews status`'s (deploy/status_verdict.py)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ground import MovieviewsError
from readmodel.health import KafkaProbe
from readmodel.store import MovieStatsStore
from stream import lag

# One sample per period of the pipeline subscription; five minutes of them make the chart.
HISTORY = 150


@dataclass(frozen=True)
class JobHealth:
    state: str  # Flink's job state, NOT_RUNNING when no job of that name runs, UNREACHABLE without Flink
    last_checkpoint_age_s: float | None = None
    dead_letters: int | None = None
    lag: int | None = None  # records past the position the job's group last committed (None: Kafka silent)


@dataclass(frozen=True)
class JobFigures:
    name: str  # its consumer group's name too (`stream.lag.group_of`)
    state: str  # Flink's job state
    last_checkpoint_age_s: float | None  # None: no checkpoint completed yet
    dead_letters: int


class JobWatch(Protocol):
    def live(self) -> JobFigures | None:
        """The live job, None when none runs; raises a MovieviewsError when its figures cannot be read."""
        ...


@dataclass(frozen=True)
class PipelineStatus:
    job: JobHealth
    total_views: int
    read_model_age_s: float | None
    # (when, views per second since the previous sample), oldest first
    rates: tuple[tuple[datetime, float], ...]


class PipelineProbe:
    """Watches the live job through `jobs`; its lag is over `topics`, asked of `kafka`."""

    def __init__(self, jobs: JobWatch, store: MovieStatsStore, kafka: KafkaProbe, topics: list[str]) -> None:
        self._jobs = jobs
        self._store = store
        self._kafka = kafka
        self._topics = topics
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
            live = self._jobs.live()
        except MovieviewsError:
            return JobHealth("UNREACHABLE")
        if live is None:
            return JobHealth("NOT_RUNNING")
        return JobHealth(
            live.state, live.last_checkpoint_age_s, live.dead_letters, self._lag(lag.group_of(live.name))
        )

    def _lag(self, group: str) -> int | None:
        try:
            return sum(self._kafka.lag(group, self._topics).values())
        except MovieviewsError:
            return None

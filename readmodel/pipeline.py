"""Pipeline health for the dashboard: the job's state, checkpoint and dead letters from Flink's REST API, its
lag from Kafka (`stream.lag`), the read model's age and total, and views per second from successive totals."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ground import MovieviewsError
from readmodel.store import MovieStatsStore
from stream import flinkrest, lag

if TYPE_CHECKING:
    from readmodel.health import KafkaProbe  # health imports the REST module, which imports this one

# One sample per period of the pipeline subscription; five minutes of them make the chart.
HISTORY = 150


@dataclass(frozen=True)
class JobHealth:
    state: str  # Flink's job state, NOT_RUNNING when no job of that name runs, UNREACHABLE without Flink
    last_checkpoint_age_s: float | None = None
    dead_letters: int | None = None
    lag: int | None = None  # records past the position the job's group last committed (None: Kafka silent)


@dataclass(frozen=True)
class PipelineStatus:
    job: JobHealth
    total_views: int
    read_model_age_s: float | None
    # (when, views per second since the previous sample), oldest first
    rates: tuple[tuple[datetime, float], ...]


class PipelineProbe:
    """Watches the live job of `job_name` (`flinkrest.live`: `movieviews`, or `movieviews-v2` once a rebuild
    switched readers to slot 2); `current_slot` says which slot readers read while a rebuild runs; its lag is
    over `topics`, asked of `kafka`."""

    def __init__(
        self,
        settings: flinkrest.FlinkSettings,
        store: MovieStatsStore,
        job_name: str,
        current_slot: Callable[[], int],
        kafka: KafkaProbe,
        topics: list[str],
    ) -> None:
        self._settings = settings
        self._store = store
        self._kafka = kafka
        self._topics = topics
        self._job_name = job_name
        self._current_slot = current_slot
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
            live = flinkrest.live(self._settings, self._job_name, self._current_slot)
            if live is None:
                return JobHealth("NOT_RUNNING")
            completed = flinkrest.last_completed(flinkrest.checkpoints(self._settings, live.job_id))
            age = None if completed is None else completed.age_s
            letters = flinkrest.dead_letters(self._settings, live.job_id)
        except (MovieviewsError, KeyError, TypeError, ValueError):
            return JobHealth("UNREACHABLE")
        return JobHealth(live.state, age, letters, self._lag(lag.group_of(live.name)))

    def _lag(self, group: str) -> int | None:
        try:
            return sum(self._kafka.lag(group, self._topics).values())
        except MovieviewsError:
            return None

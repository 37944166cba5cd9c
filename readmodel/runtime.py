"""Everything one API process holds open: the read pool, the publisher, the LISTEN connection, the keys."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Protocol

from ingest.publisher import AsyncPublisher, KafkaSettings
from readmodel import metrics
from readmodel.apikeys import KeyRing
from readmodel.cache import ChangeListener, ResponseCache, asyncpg_dsn
from readmodel.commands import Commands, Publisher
from readmodel.context import ReadModelContext
from readmodel.fanout import FanOut
from readmodel.guard import Admission, GuardConfig
from readmodel.health import KafkaProbe
from readmodel.live import Hub
from readmodel.pipeline import JobWatch, PipelineProbe
from readmodel.ratelimit import TokenBuckets
from readmodel.store import MovieStatsStore, create_reader_engine


class ReadModelSettings(KafkaSettings, Protocol):
    """What the API needs; `deploy.settings.Settings` provides it, built in each worker by `deploy`."""

    @property
    def api_key_pepper(self) -> str: ...

    @property
    def api_reads_need_key(self) -> bool: ...

    @property
    def api_key_rate(self) -> int: ...

    @property
    def api_anonymous_rate(self) -> int: ...

    @property
    def api_max_body_bytes(self) -> int: ...

    @property
    def reader_url(self) -> str: ...

    @property
    def top_limit_max(self) -> int: ...


class Runtime:
    def __init__(
        self,
        settings: ReadModelSettings,
        publisher: Publisher | None = None,
        buckets_file: Path | None = None,
        jobs: JobWatch | None = None,
    ) -> None:
        """`jobs` reads the live job's figures for the dashboard (deploy's, over Flink's REST API); without it
        the API has no pipeline probe."""
        self.engine = create_reader_engine(settings.reader_url)
        self.store = MovieStatsStore(self.engine)
        self.publisher: Publisher = publisher or AsyncPublisher(
            settings.kafka_api, settings.views_topic, settings.movies_topic, settings.schemas_topic
        )
        self.hub = Hub()
        self.fanout = FanOut()
        commands = Commands(self.publisher)
        self.kafka = KafkaProbe(settings.kafka_api)
        topics = [settings.views_topic, settings.movies_topic]
        pipeline = None if jobs is None else PipelineProbe(jobs, self.store, self.kafka, topics)
        self.context = ReadModelContext(self.store, commands, settings.top_limit_max, self.hub, pipeline)
        self.cache = ResponseCache()
        self.listener = ChangeListener(asyncpg_dsn(settings.reader_url), self.cache, self.hub)
        self.keys = KeyRing(self.engine, settings.api_key_pepper)
        self.buckets = TokenBuckets(buckets_file)
        self._flushing: asyncio.Task[None] | None = None
        self.admission = Admission(
            self.keys,
            self.buckets,
            GuardConfig(settings.api_reads_need_key, settings.api_key_rate, settings.api_anonymous_rate),
        )

    async def start(self) -> None:
        self.publisher.start()
        self.listener.start()
        self.keys.start()
        self._flushing = asyncio.create_task(metrics.flushing(), name="metrics-flush")

    async def stop(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await self.keys.stop()
        self.buckets.close()
        await self.listener.stop()
        await self.fanout.stop()
        await self.hub.stop()
        self.publisher.close()
        await self.engine.dispose()

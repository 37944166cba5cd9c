"""Everything one API process holds open: the read pool, the publisher, the LISTEN connection."""

from __future__ import annotations

from deploy.settings import Settings
from ingest.publisher import AsyncPublisher
from readmodel.commands import Commands, Publisher
from readmodel.context import ReadModelContext
from readmodel.freshness import ChangeListener, ResponseCache, asyncpg_dsn
from readmodel.health import KafkaProbe
from readmodel.live import Hub
from readmodel.pipeline import PipelineProbe
from readmodel.store import MovieStatsStore, create_reader_engine

# The stream job whose health the dashboard shows: the one `movieviews up` submits.
MAIN_JOB = "movieviews"


class Runtime:
    def __init__(
        self, settings: Settings, publisher: Publisher | None = None, job_name: str = MAIN_JOB
    ) -> None:
        self.engine = create_reader_engine(settings.reader_url)
        self.store = MovieStatsStore(self.engine)
        self.publisher: Publisher = publisher or AsyncPublisher(
            settings.kafka_bootstrap, settings.views_topic, settings.movies_topic, settings.schemas_topic
        )
        self.hub = Hub()
        commands = Commands(self.publisher)
        pipeline = PipelineProbe(settings, self.store, job_name)
        self.context = ReadModelContext(self.store, commands, settings.top_limit_max, self.hub, pipeline)
        self.cache = ResponseCache()
        self.listener = ChangeListener(asyncpg_dsn(settings.reader_url), self.cache, self.hub)
        self.kafka = KafkaProbe(settings.kafka_bootstrap)

    async def start(self) -> None:
        self.publisher.start()
        self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        await self.hub.stop()
        self.publisher.close()
        await self.engine.dispose()

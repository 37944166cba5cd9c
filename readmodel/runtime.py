"""Everything one API process holds open: the read pool, the publisher, the LISTEN connection."""

from __future__ import annotations

from deploy.settings import Settings
from ingest.publisher import AsyncPublisher
from readmodel.commands import Commands, Publisher
from readmodel.context import ReadModelContext
from readmodel.freshness import ChangeListener, ResponseCache, asyncpg_dsn
from readmodel.health import KafkaProbe
from readmodel.store import MovieStatsStore, create_reader_engine


class Runtime:
    def __init__(self, settings: Settings, publisher: Publisher | None = None) -> None:
        self.engine = create_reader_engine(settings.reader_url)
        self.store = MovieStatsStore(self.engine)
        self.publisher: Publisher = publisher or AsyncPublisher(
            settings.kafka_bootstrap, settings.views_topic, settings.movies_topic, settings.schemas_topic
        )
        self.context = ReadModelContext(self.store, Commands(self.publisher), settings.top_limit_max)
        self.cache = ResponseCache()
        self.listener = ChangeListener(asyncpg_dsn(settings.reader_url), self.cache)
        self.kafka = KafkaProbe(settings.kafka_bootstrap)

    async def start(self) -> None:
        self.publisher.start()
        self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        self.publisher.close()
        await self.engine.dispose()

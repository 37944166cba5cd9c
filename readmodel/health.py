"""/healthz says the process is up; /readyz says whether Postgres and Kafka answer right now."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ground.kafka import KafkaAccess, client_config
from readmodel.errors import ReadModelError
from readmodel.responses import json_response
from readmodel.store import MovieStatsStore
from stream import lag

# A readiness probe must answer before the prober gives up (typically 1-2 s), whatever is down.
PROBE_TIMEOUT_S = 1.0


class KafkaProbe:
    def __init__(self, kafka: KafkaAccess) -> None:
        # One client for the process: librdkafka keeps reconnecting in the background by itself.
        self._admin = AdminClient(client_config(kafka, **{"socket.connection.setup.timeout.ms": 1000}))

    async def check(self) -> None:
        await asyncio.to_thread(self._admin.list_topics, timeout=PROBE_TIMEOUT_S)

    def lag(self, group: str, topics: list[str]) -> dict[tuple[str, int], int]:
        """`stream.lag`'s lag of `group` per partition of `topics` (raises LagError)."""
        return lag.positions(self._admin, group, topics, PROBE_TIMEOUT_S).lag()

    async def end_offsets(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """The log end offset of every partition of `topics`."""
        return await asyncio.to_thread(self._end_offsets, topics)

    def _end_offsets(self, topics: list[str]) -> dict[tuple[str, int], int]:
        metadata = self._admin.list_topics(timeout=PROBE_TIMEOUT_S).topics
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        wanted = {
            TopicPartition(topic, partition): latest
            for topic in topics
            if topic in metadata
            for partition in metadata[topic].partitions
        }
        if not wanted:
            return {}
        futures = self._admin.list_offsets(wanted, request_timeout=PROBE_TIMEOUT_S)
        return {(tp.topic, tp.partition): f.result(PROBE_TIMEOUT_S).offset for tp, f in futures.items()}


async def _probe(name: str, check: Awaitable[None]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT_S * 2)
    except (ReadModelError, KafkaException, TimeoutError) as exc:
        return name, f"unavailable: {exc}"
    return name, "ok"


def routes(store: MovieStatsStore, kafka: KafkaProbe) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = dict(
            await asyncio.gather(
                _probe("postgres", store.ping()),
                _probe("kafka", kafka.check()),
            )
        )
        ready = all(state == "ok" for state in checks.values())
        return json_response({"status": "ready" if ready else "unavailable", **checks}, 200 if ready else 503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]

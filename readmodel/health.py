"""/healthz says the process is up; /readyz says whether Postgres and Kafka answer right now."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from readmodel.errors import ReadModelError
from readmodel.rest import json_response
from readmodel.store import MovieStatsStore

# A readiness probe must answer before the prober gives up (typically 1-2 s), whatever is down.
PROBE_TIMEOUT_S = 1.0


class KafkaProbe:
    def __init__(self, bootstrap: str) -> None:
        # One client for the process: librdkafka keeps reconnecting in the background by itself.
        self._admin = AdminClient(
            {"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 1000}
        )

    async def check(self) -> None:
        await asyncio.to_thread(self._admin.list_topics, timeout=PROBE_TIMEOUT_S)


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

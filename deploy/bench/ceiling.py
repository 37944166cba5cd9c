"""The ceilings `bench read` and `bench write` measure the API against, in the same run: bare Starlette apps
under the API's own uvicorn settings (deploy.cli.serve.server_options) and worker count, driven by the same
client. What separates the API's figure from its ceiling is then the API's own work per request.

- read: answers each request body the benchmark sends with the bytes the API answered it with (fetched just
  before), looked up by body; nothing else.
- write: `POST /api/view/{movie_id}` builds the view, encodes it and produces it with ingest's AsyncPublisher
  (the API's producer settings) to the views topic, and answers the event id once the broker acknowledged it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deploy.cli.serve import server_options
from deploy.errors import BenchmarkError
from deploy.paths import StatePaths
from deploy.sandbox import free_port
from deploy.settings import Settings
from deploy.wait import wait_until
from ingest.events import MovieViewed
from ingest.publisher import AsyncPublisher

READ, WRITE = "read", "write"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# The API's wait for an acknowledgement (readmodel.commands.PUBLISH_TIMEOUT_S), not imported: deploy.bench
# would then load readmodel's metrics into the ceiling's workers.
PUBLISH_TIMEOUT_S = 5.0


def responses_file(settings: Settings) -> Path:
    """Where `bench read` leaves the bytes its ceiling answers with, for the ceiling's worker processes."""
    return StatePaths(settings.home).run / "bench-ceiling-read.json"


def read_app() -> Starlette:
    """uvicorn's factory in each worker: the request bodies and their answers from `responses_file`."""
    pairs = orjson.loads(responses_file(Settings.from_env(os.environ)).read_bytes())
    answers = {body.encode(): answer.encode() for body, answer in pairs}

    async def graphql(request: Request) -> Response:
        return Response(answers.get(await request.body(), b"{}"), media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


def write_app() -> Starlette:
    settings = Settings.from_env(os.environ)
    publisher = AsyncPublisher(
        settings.kafka_api, settings.views_topic, settings.movies_topic, settings.schemas_topic
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        publisher.start()
        try:
            yield
        finally:
            publisher.close()

    async def record_view(request: Request) -> Response:
        await request.body()
        event = MovieViewed.new(request.path_params["movie_id"])
        delivery = await publisher.publish(event, PUBLISH_TIMEOUT_S)
        return Response(orjson.dumps({"eventId": delivery.event_id}), 202, media_type="application/json")

    return Starlette(routes=[Route("/api/view/{movie_id}", record_view, methods=["POST"])], lifespan=lifespan)


@dataclass(frozen=True)
class Server:
    url: str
    pid: int  # uvicorn's master; its workers are its children


@contextlib.contextmanager
def serving(settings: Settings, kind: str, responses: Sequence[tuple[bytes, bytes]] = ()) -> Iterator[Server]:
    """The `kind` ceiling on a free port while in the block. `responses` (read): each request body with the
    bytes to answer it with."""
    if kind == READ:
        path = responses_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps([(body.decode(), answer.decode()) for body, answer in responses]))
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(settings, kind, port), name=f"ceiling-{kind}", daemon=False
    )
    server.start()
    url = f"http://{HOST}:{port}"
    try:
        wait_until(
            lambda: _answers(url) or not server.is_alive(), START_TIMEOUT_S, f"{kind} ceiling on {url}"
        )
        if not server.is_alive():
            raise BenchmarkError(f"the {kind} ceiling exited with {server.exitcode} before answering")
        assert server.pid is not None  # started
        yield Server(url, server.pid)
    finally:
        server.terminate()
        server.join(STOP_TIMEOUT_S)
        if server.is_alive():
            server.kill()
            server.join()


def _serve(settings: Settings, kind: str, port: int) -> None:
    # This process's stdin is multiprocessing's closed stand-in; uvicorn hands stdin's descriptor to its
    # workers unless there is none, and a worker reopening a closed one dies.
    sys.stdin = None
    uvicorn.run(
        f"deploy.bench.ceiling:{kind}_app",
        factory=True,
        host=HOST,
        port=port,
        workers=settings.api_workers,
        **server_options(settings),
    )


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/", timeout=1.0)
    except httpx.TransportError:
        return False
    return True

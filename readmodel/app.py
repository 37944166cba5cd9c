"""The Starlette application: GraphQL (and GraphiQL) at /graphql, the live dashboard at /dashboard, the REST
calls under /api, health probes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Lifespan

from readmodel import exposition, health, metrics, rest
from readmodel.cache import ResponseCache
from readmodel.commands import Publisher
from readmodel.graphql_endpoint import WEB_DIR, ReadModelGraphQL
from readmodel.guard import Admission, Guard
from readmodel.logs import RequestIds
from readmodel.pipeline import JobWatch
from readmodel.reused import ReusedResponses
from readmodel.runtime import ReadModelSettings, Runtime
from readmodel.schema import build_schema
from stream.config import JOB_NAME


def create_app(
    settings: ReadModelSettings,
    publisher: Publisher | None = None,
    assets_dir: Path | None = None,
    job_name: str = JOB_NAME,
    buckets_file: Path | None = None,
    checkpoints_dir: Path | None = None,
    jobs: JobWatch | None = None,
) -> Starlette:
    """`assets_dir` holds the unpacked WebJars GraphiQL needs (served under /assets); `job_name` is the
    stream job whose lag /metrics exports; `buckets_file` is the rate-limit table the server's worker
    processes share (readmodel.ratelimit): without it the buckets are this process's own; /metrics reports
    the free space of `checkpoints_dir`'s filesystem when given; `jobs` reads the live job's figures for the
    dashboard (readmodel.pipeline)."""
    runtime = Runtime(settings, publisher, buckets_file, jobs)
    graphql = ReadModelGraphQL(build_schema(), runtime.context, runtime.cache, runtime.fanout)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        # Start-up garbage is permanent; freezing it keeps full collections (15-19 ms pauses on this heap,
        # measured on this machine kind) out of request latency.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    async def dashboard(request: Request) -> Response:
        return FileResponse(WEB_DIR / "dashboard.html")

    async def home(request: Request) -> Response:
        return RedirectResponse("/dashboard")

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"], name="graphiql"),
        WebSocketRoute("/graphql", graphql),  # subscriptions, graphql-transport-ws
        Route("/dashboard", dashboard),
        Route("/", home),
        Mount("/static", StaticFiles(directory=WEB_DIR), name="static"),
        # check_dir off: an API started before `movieviews up` unpacked the assets still starts (GraphiQL
        # then lacks its scripts; everything else works).
        Mount("/assets", StaticFiles(directory=assets_dir or WEB_DIR / "missing", check_dir=False)),
        *rest.routes(runtime.context),
        *health.routes(runtime.store, runtime.kafka),
        Route(
            "/metrics",
            exposition.endpoint(
                runtime.store,
                runtime.kafka,
                [settings.views_topic, settings.movies_topic],
                checkpoints_dir,
                lineage=job_name,
            ),
            name="metrics",
        ),
    ]
    app = ReadModelApp(
        routes, runtime.cache, runtime.admission, lifespan, max_body_bytes=settings.api_max_body_bytes
    )
    app.state.runtime = runtime
    return app


class ReadModelApp(Starlette):
    """The routes behind the request id, the request metrics and the guard, with the lane for reused
    responses (readmodel.reused), which also bounds request bodies, in front of all of Starlette's layers."""

    def __init__(
        self,
        routes: list[BaseRoute],
        cache: ResponseCache,
        admission: Admission,
        lifespan: Lifespan[ReadModelApp] | None = None,
        *,
        max_body_bytes: int,
    ) -> None:
        # The guard innermost: its refusals get a request id and are counted in the metrics too.
        middleware = [
            Middleware(RequestIds),
            Middleware(metrics.RequestMetrics),
            Middleware(Guard, admission=admission),
        ]
        super().__init__(routes=routes, lifespan=lifespan, middleware=middleware)
        self._cache = cache
        self._admission = admission
        self._max_body_bytes = max_body_bytes

    def build_middleware_stack(self) -> ASGIApp:
        return ReusedResponses(
            super().build_middleware_stack(), self._cache, self._admission, self._max_body_bytes
        )

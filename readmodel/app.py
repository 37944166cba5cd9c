"""The Starlette application: GraphQL at /graphql, the REST calls under /api, health probes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from deploy.settings import Settings
from readmodel import health, rest
from readmodel.commands import Publisher
from readmodel.runtime import Runtime
from readmodel.schema import build_schema
from readmodel.view import ReadModelGraphQL


def create_app(settings: Settings, publisher: Publisher | None = None) -> Starlette:
    runtime = Runtime(settings, publisher)
    graphql = ReadModelGraphQL(build_schema(), runtime.context, runtime.cache)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        # Start-up garbage is permanent; freezing it keeps full collections (15-19 ms pauses on this heap,
        # STACK-NOTES) out of request latency.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        *rest.routes(runtime.context),
        *health.routes(runtime.store, runtime.kafka),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    return app

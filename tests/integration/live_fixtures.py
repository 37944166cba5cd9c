"""The app under a real uvicorn, in the test's event loop: what the subscription and browser tests talk to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from deploy.flink.watch import FlinkJobWatch
from deploy.paths import StatePaths
from deploy.settings import Settings
from readmodel.app import create_app
from readmodel.client import live_client
from readmodel.runtime import Runtime
from stream.config import JOB_NAME


class Api:
    def __init__(self, port: int, runtime: Runtime) -> None:
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/graphql"
        self.runtime = runtime

    def client(self) -> Any:
        return live_client(self.ws)


@asynccontextmanager
async def serve(settings: Settings, job_name: str = JOB_NAME) -> AsyncIterator[Api]:
    """On a free port, with the WebJars `movieviews up` unpacked (the session's stack did)."""
    app = create_app(
        settings,
        assets_dir=StatePaths(settings.home).web_assets,
        job_name=job_name,
        jobs=FlinkJobWatch(settings, job_name),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Api(port, app.state.runtime)
    finally:
        server.should_exit = True
        await task

"""`movieviews serve`: the API under uvicorn, one or more worker processes."""

from __future__ import annotations

import argparse
import os

import uvicorn
from starlette.applications import Starlette

from deploy.paths import StatePaths
from deploy.settings import Settings
from readmodel.app import create_app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind host (default: settings api_host)")
    parser.add_argument("--port", type=int, help="bind port (default: settings api_port)")
    parser.add_argument("--workers", type=int, help="worker processes (default: settings api_workers)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    uvicorn.run(
        # An import string and a factory: worker processes build their own app (and settings) after the fork.
        "readmodel.server:app_from_environment",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers or settings.api_workers,
        loop="uvloop",
        http="httptools",
        # An access line per request costs more than a cached response; errors are still logged.
        access_log=False,
        # Clients and the benchmark keep connections open between requests.
        timeout_keep_alive=30,
    )
    return 0


def app_from_environment() -> Starlette:
    """uvicorn's factory, run in each worker: an entry point, so it reads the environment."""
    settings = Settings.from_env(os.environ)
    return create_app(settings, assets_dir=StatePaths(settings.home).web_assets)

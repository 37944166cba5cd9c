"""`movieviews serve`: the API under uvicorn, one or more worker processes."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import multiprocessing
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from deploy.paths import StatePaths
from deploy.settings import Settings
from readmodel.logs import logging_config

if TYPE_CHECKING:
    from starlette.applications import Starlette

# Must be set before a process imports prometheus_client (readmodel.metrics): workers inherit it. The same
# name as readmodel.exposition.MULTIPROC_ENV, not imported from there: that would load prometheus_client.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind host (default: settings api_host)")
    parser.add_argument("--port", type=int, help="bind port (default: settings api_port)")
    parser.add_argument("--workers", type=int, help="worker processes (default: settings api_workers)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    port = args.port or settings.api_port
    os.environ[MULTIPROC_ENV] = str(_fresh_metrics_dir(settings.home / "api-metrics" / str(port)))
    uvicorn.run(
        # An import string and a factory: worker processes build their own app (and settings) after the fork.
        "deploy.cli.serve:app_from_environment",
        factory=True,
        host=args.host or settings.api_host,
        port=port,
        workers=args.workers or settings.api_workers,
        **server_options(settings),
    )
    with contextlib.suppress(FileNotFoundError):
        buckets_file(settings).unlink()
    return 0


def server_options(settings: Settings) -> dict[str, Any]:
    """How the API's uvicorn serves, apart from the app and where: also the benchmarks' ceilings'
    (deploy.bench.ceiling), so that what separates them is the app alone."""
    return {
        "loop": "uvloop",
        # httptools, with a limit on the size of a request's head, which httptools lacks (deploy.httphead).
        "http": "deploy.httphead:BoundedHeadProtocol",
        # An access line per request costs more than a cached response; errors are still logged.
        "access_log": False,
        # Clients and the benchmark keep connections open between requests.
        "timeout_keep_alive": 30,
        # Subscription messages are compressed per connection, so a change shared by 1,000 subscribers was
        # compressed 1,000 times: 12.6% of the API process in `bench live` (py-spy). Messages are ~1 KB.
        "ws_per_message_deflate": False,
        "log_config": logging_config(settings.json_logs),
        # The client address is the socket's peer: uvicorn would otherwise take X-Forwarded-For from any local
        # client, and a caller could pick the address its anonymous rate limit is counted against.
        "proxy_headers": False,
    }


def _fresh_metrics_dir(folder: Path) -> Path:
    """Each worker's metric files go here; emptied at start, so counters start from zero with the server.
    One folder per port: a drill's API beside the main one keeps its own figures."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def app_from_environment() -> Starlette:
    """uvicorn's factory, run in each worker: an entry point, so it reads the environment."""
    _die_with_the_master()
    # Imported here, after `run` set the metrics folder: the app's modules import prometheus_client.
    from deploy.flink.watch import FlinkJobWatch
    from readmodel.app import create_app

    settings = Settings.from_env(os.environ)
    paths = StatePaths(settings.home)
    return create_app(
        settings,
        assets_dir=paths.web_assets,
        job_name=settings.job_name,
        buckets_file=buckets_file(settings),
        checkpoints_dir=paths.checkpoints,
        jobs=FlinkJobWatch(settings, settings.job_name),
    )


def buckets_file(settings: Settings) -> Path:
    """The rate-limit table the workers of one server (state dir and port) share. It is scratch state: in
    memory-backed tmpfs where there is one, nothing is written back to disk."""
    # A shared folder: TokenBuckets refuses a symlink or a file another user made there.
    shared = Path("/dev/shm")  # noqa: S108
    folder = shared if shared.is_dir() else settings.home / "run"
    digest = hashlib.sha256(str(settings.home).encode()).hexdigest()[:12]
    return folder / f"movieviews-{digest}-{settings.api_port}.buckets"


# prctl(2) option: the signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1


def _die_with_the_master() -> None:
    """A worker whose master was SIGKILLed would go on holding the API's port, so the supervisor could not
    start a new master: the kernel stops the worker with its master instead."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent.pid:  # the master died before the call
        os.kill(os.getpid(), signal.SIGTERM)

"""The whole system on top of the stack: migrations, the stream job on the cluster, the API server."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deploy import procs
from deploy.flink import cluster
from deploy.paths import StatePaths
from deploy.settings import REPO_ROOT, Settings
from deploy.wait import wait_until

API = "api"
JOB_NAME = "movieviews"
API_START_TIMEOUT_S = 60


def api_healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{settings.api_url}/healthz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_api(settings: Settings, paths: StatePaths) -> int | None:
    if procs.read_pid(paths.pid_file(API)):
        return None
    procs.ensure_port_free(settings.api_port, "the GraphQL API")
    movieviews = Path(sys.executable).with_name("movieviews")
    pid = procs.spawn(
        [str(movieviews), "serve"], paths.pid_file(API), paths.log_file(API), os.environ, REPO_ROOT
    )

    def ready() -> bool:
        if not procs.read_pid(paths.pid_file(API)):
            raise procs.died("the API", paths.log_file(API))
        return api_healthy(settings)

    wait_until(ready, API_START_TIMEOUT_S, "the API")
    return pid


def job_running(settings: Settings) -> str | None:
    return next((job["jid"] for job in cluster.running_jobs(settings) if job["name"] == JOB_NAME), None)


def start_system(settings: Settings, paths: StatePaths, say: Callable[[str], None]) -> None:
    from readmodel import migrate
    from stream import launch
    from stream.config import JobConfig

    migrate.upgrade(settings.owner_url)
    say(f"database {settings.pg_database} migrated to head")
    job_id = job_running(settings)
    if job_id is None:
        job_id = launch.submit(settings, JobConfig.from_settings(settings, name=JOB_NAME))
    say(f"stream job {job_id} running: {settings.flink_rest}/#/job/running/{job_id}/overview")
    start_api(settings, paths)
    say(f"GraphQL API (GraphiQL) at {settings.api_url}/graphql")

"""Stopping the stream jobs a test submitted."""

from __future__ import annotations

import contextlib

from deploy.flink import jobs
from deploy.flink.checkpoints import remove_job_state
from deploy.paths import StatePaths
from deploy.settings import Settings
from stream.errors import FlinkRestError


def stop_and_remove(settings: Settings, job_id: str) -> None:
    """The job ended (`deploy.flink.jobs.end`), then its checkpoints and savepoints removed. A job the
    JobManager no longer knows (one that restarted without HA) is already gone: only its state is removed."""
    with contextlib.suppress(FlinkRestError):
        jobs.end(settings, job_id)
    paths = StatePaths(settings.home)
    remove_job_state(paths.checkpoints, paths.savepoints, job_id)

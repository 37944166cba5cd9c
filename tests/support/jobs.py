"""Stopping the stream jobs a test submitted."""

from __future__ import annotations

import contextlib

from deploy.flink.checkpoints import remove_job_state
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.wait import wait_until
from stream import flinkrest
from stream.errors import FlinkRestError

# A cancelled job ends within seconds; a loaded machine takes longer to stop its tasks.
END_TIMEOUT_S = 60


def stop(settings: Settings, job_id: str) -> None:
    """Cancels the job if it has not ended and waits until it has: an ended job writes no checkpoint after,
    so its retained ones can be restored from or removed."""
    if flinkrest.job_state(settings, job_id) not in flinkrest.ENDED:
        flinkrest.cancel(settings, job_id)
    wait_until(
        lambda: flinkrest.job_state(settings, job_id) in flinkrest.ENDED, END_TIMEOUT_S, f"job {job_id} ended"
    )


def stop_and_remove(settings: Settings, job_id: str) -> None:
    """`stop`, then the job's checkpoints and savepoints removed. A job the JobManager no longer knows (one
    that restarted without HA) is already gone: only its state is removed."""
    with contextlib.suppress(FlinkRestError):
        stop(settings, job_id)
    paths = StatePaths(settings.home)
    remove_job_state(paths.checkpoints, paths.savepoints, job_id)

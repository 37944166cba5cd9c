"""Finding the newest restore point (retained checkpoint or savepoint) a job left behind, and removing what a
finished scratch job (test, drill, benchmark) left."""

from __future__ import annotations

import shutil
from pathlib import Path


def latest_restore_point(checkpoints: Path, savepoints: Path, job_id: str) -> Path | None:
    """The newest complete one: a directory is complete once Flink wrote its `_metadata` file."""
    candidates = [
        *checkpoints.glob(f"{job_id}/chk-*/_metadata"),
        *savepoints.glob(f"savepoint-{job_id[:6]}-*/_metadata"),
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime).parent


def remove_job_state(checkpoints: Path, savepoints: Path, job_id: str) -> None:
    """Deletes a job's retained checkpoints and savepoints: scratch jobs leave nothing behind."""
    for path in [checkpoints / job_id, *savepoints.glob(f"savepoint-{job_id[:6]}-*")]:
        shutil.rmtree(path, ignore_errors=True)

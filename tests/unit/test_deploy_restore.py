"""Where `up` resumes the main job: what `down` reports is what `up` then reads (`system.restore_point`)."""

from __future__ import annotations

from pathlib import Path

from deploy import system
from deploy.paths import StatePaths

JOB = "a" * 32
PREVIOUS = "b" * 32


def point(root: Path) -> Path:
    (root / "_metadata").parent.mkdir(parents=True)
    (root / "_metadata").write_text("")
    return root


def make_paths(tmp_path: Path) -> StatePaths:
    paths = StatePaths(tmp_path)
    paths.run.mkdir(parents=True)
    return paths


def test_a_job_with_checkpoints_of_its_own_resumes_from_its_newest(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    restored = point(paths.savepoints / f"savepoint-{PREVIOUS[:6]}-1")
    system.remember_job(paths, JOB, str(restored))
    point(paths.checkpoints / JOB / "chk-7")
    assert system.restore_point(paths) == paths.checkpoints / JOB / "chk-7"


def test_a_job_cancelled_before_its_first_checkpoint_resumes_where_it_was_restored_from(
    tmp_path: Path,
) -> None:
    paths = make_paths(tmp_path)
    restored = point(paths.checkpoints / PREVIOUS / "chk-3")
    system.remember_job(paths, JOB, str(restored))
    (paths.checkpoints / JOB / "chk-4").mkdir(parents=True)  # begun, never completed: no _metadata
    assert system.restore_point(paths) == restored


def test_remembering_the_running_job_again_keeps_where_it_was_restored_from(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    restored = point(paths.checkpoints / PREVIOUS / "chk-3")
    system.remember_job(paths, JOB, str(restored))
    system.remember_job(paths, JOB)  # `up` again, or `down`, on the same job
    assert system.restore_point(paths) == restored
    system.remember_job(paths, PREVIOUS)  # another job: its own points only
    assert system.restore_point(paths) == restored  # chk-3 is PREVIOUS's own


def test_a_job_started_from_the_topics_with_no_checkpoint_resumes_from_the_start(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    system.remember_job(paths, JOB)
    assert system.restore_point(paths) is None

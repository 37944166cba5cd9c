"""The whole system on top of the stack: migrations, the stream job on the cluster, the API server."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deploy import services
from deploy.flink import jobs
from deploy.flink.checkpoints import latest_restore_point
from deploy.paths import StatePaths
from deploy.rebuild import live_job, main_job
from deploy.settings import Settings
from deploy.wait import wait_until
from readmodel import apikeys, migrate, versions
from stream import flinkrest
from stream.config import JOB_NAME

API_START_TIMEOUT_S = 60


def api_healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{settings.api_url}/healthz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_api(settings: Settings, paths: StatePaths) -> None:
    """Starts the API (under the supervisor, or as a process of its own: `deploy.services`) and waits until it
    answers."""
    alive = services.of(settings).start_api(settings, paths)

    def ready() -> bool:
        alive()
        return api_healthy(settings)

    wait_until(ready, API_START_TIMEOUT_S, "the API")


def job_running(settings: Settings) -> str | None:
    """The live job: MOVIEVIEWS_JOB_NAME's, or its `-v2` once a rebuild has switched readers to slot 2."""
    job = live_job(settings, main_job(settings))
    return job.job_id if job else None


def _last_job_file(paths: StatePaths) -> Path:
    return paths.run / f"{JOB_NAME}.job-id"


def _remembered(paths: StatePaths) -> list[str]:
    """The last main job's id, then (when it was restored) the restore point it started from."""
    last = _last_job_file(paths)
    return last.read_text().splitlines() if last.exists() else []


def remember_job(paths: StatePaths, job_id: str, restored_from: str | None = None) -> None:
    """The main job `up` resumes next time (from its newest checkpoint or savepoint), and the point it was
    itself restored from: where to resume if it is cancelled before its first checkpoint. Remembering the
    same job again without one keeps the one already remembered."""
    known = _remembered(paths)
    if restored_from is None and known[:1] == [job_id]:
        return
    _last_job_file(paths).write_text("\n".join([job_id, *([restored_from] if restored_from else [])]) + "\n")


def restore_point(paths: StatePaths) -> Path | None:
    """Where the main job left off: the newest checkpoint or savepoint of the last job `up` submitted, else
    (it completed none) the point that job was restored from; None: read the topics from the start."""
    known = _remembered(paths)
    if not known:
        return None
    own = latest_restore_point(paths.checkpoints, paths.savepoints, known[0])
    if own is not None or len(known) < 2:
        return own
    restored = Path(known[1])
    return restored if (restored / "_metadata").exists() else None


def start_job(settings: Settings, paths: StatePaths, say: Callable[[str], None]) -> str:
    """Resumes the main job from where it left off; with no restore point it rebuilds from the log."""

    job_id = job_running(settings)
    restore = None
    if job_id is None:
        restore = restore_point(paths)
        # It writes the version the API reads (a rebuild may have switched it), under that slot's name.
        config = main_job(settings).config(settings, versions.current_slot(settings.owner_dsn))
        job_id = jobs.submit(settings, config, str(restore) if restore else None)
        origin = f"restored from {restore}" if restore else "reading the topics from the start"
        say(f"stream job submitted, {origin}")
    # Also a running job `up` did not submit (`movieviews job submit`): the next `up` after a `down` resumes
    # that one, not an older job's savepoint.
    remember_job(paths, job_id, str(restore) if restore else None)
    say(f"stream job {job_id} running: {settings.flink_rest}/#/job/running/{job_id}/overview")
    return job_id


def stop_job(settings: Settings, paths: StatePaths, say: Callable[[str], None]) -> None:
    """Stops the main job within `stop_timeout_s`: with a savepoint, else cancelled with its retained
    checkpoints kept. Says where the next `up` resumes, as `restore_point` (what `up` reads) finds it."""
    if not flinkrest.healthy(settings)[0]:
        say("flink does not answer: no job to stop")
        return
    job_id = job_running(settings)
    if job_id is None:
        say("no stream job running")
        return
    remember_job(paths, job_id)
    name = f"stream job {job_id}"
    savepoint = jobs.stop_within(settings, job_id, name, say, settings.stop_timeout_s)
    how = f"stopped with savepoint {savepoint}" if savepoint else "cancelled"
    resumes = restore_point(paths)
    where = f"up resumes from {resumes.name} ({resumes})" if resumes else "up reads the topics from the start"
    say(f"{name} {how}; {where}")


def start_system(settings: Settings, paths: StatePaths, say: Callable[[str], None]) -> None:
    migrate.upgrade(settings.owner_url)
    say(f"database {settings.pg_database} migrated to head")
    start_job(settings, paths, say)
    start_api(settings, paths)
    say(f"GraphQL API (GraphiQL) at {settings.api_url}/graphql")
    say(f"live dashboard at {settings.api_url}/dashboard")
    ensure_demo_key(settings, paths)
    say(f"demo API key (views:write, movies:write) in {paths.demo_key}: send it as `Authorization: Bearer`")


def ensure_demo_key(settings: Settings, paths: StatePaths) -> str:
    """The demo's key: the one in the file while it is live, else a new one written there."""
    path = paths.demo_key
    known = path.read_text().strip() if path.exists() else ""
    if known and apikeys.is_live(settings.owner_dsn, settings.api_key_pepper, known):
        return known
    key = apikeys.create(settings.owner_dsn, settings.api_key_pepper, "demo", ["views:write", "movies:write"])
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key

"""Rebuilding the read model from the log into the slot the API does not read, proving it equal to the live
one, and switching readers to it; rolling back to the version kept; dropping it.

1. A second job (named for the slot it builds, `stream.config.slot_job_name`: `movieviews-v2` for slot 2;
   its own consumer group and state) reads the log from offset zero into the other slot's tables, while the
   live job keeps serving.
2. Caught up (its Kafka position at or past the live job's, per partition), the live job stops with a
   savepoint: its tables now hold the projection of one log position, and readers keep reading them.
3. The rebuilt rows are compared with the live ones, movie by movie, by version (`readmodel.versions`): every
   movie at the same version must be equal row for row; a movie the rebuild has read further (events that
   arrived after the stop) must not count less. Until every movie has reached the live version, it waits.
4. Both views switch to the rebuilt slot in one transaction, and with them which job is live: the live job is
   the one writing the slot readers read (`up`, `status`, `job` and the API's probe look it up so), so the
   rebuilt job keeps running as it is, never stopped or resubmitted. Counts never go down: the frozen live
   rows are at or below the rebuilt ones at the switch, and the rebuilt rows only grow.
5. The old slot keeps its rows and its job's savepoint (in `<run>/<live name>.versions.json`) until
   `--drop-old`; `--rollback` runs the same steps back to it, restoring its job from that savepoint.

A job restarting at the moment of a stop (its TaskManager lost, say) cannot take a savepoint: the stop
(`deploy.flink.jobs.stop_with_savepoint`) waits until all the job's tasks run and tries again. If it still
fails, the live job keeps serving (a live job that ended all the same is resubmitted from the savepoint it
took); if the comparison fails, the live job is resumed from its savepoint. Either way the rebuilt slot is
emptied.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy import progress
from deploy.errors import DeployError
from deploy.flink import jobs
from deploy.flink.checkpoints import remove_job_state
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.wait import wait_until
from readmodel import versions
from readmodel.versions import Comparison
from stream import flinkrest
from stream.config import JobConfig, slot_job_name
from stream.lag import group_of

# How often the catch-up and the comparison are polled: each poll is a few REST calls or two table scans.
POLL_S = 1.0
# From the live job's stop until every movie of the rebuild reached its version: the rebuild is caught up by
# then, so this is its flush interval and JDBC batch, plus a loaded machine's scheduling.
COMPARE_TIMEOUT_S = 120


class RebuildError(DeployError):
    pass


@dataclass(frozen=True)
class LiveJob:
    """A live job's lineage: `name` and `group_id` are slot 1's job's; slot n's job is named
    `slot_job_name(name, n)` and has that name as its consumer group."""

    name: str
    group_id: str

    def name_in(self, slot: int) -> str:
        return slot_job_name(self.name, slot)

    def group_in(self, slot: int) -> str:
        return self.group_id if slot == 1 else self.name_in(slot)

    def config(self, settings: Settings, slot: int) -> JobConfig:
        return jobs.job_config(settings, name=self.name_in(slot), group_id=self.group_in(slot), slot=slot)


def main_job(settings: Settings) -> LiveJob:
    """The deployment's own job (`up`, `down`, `movieviews rebuild`): MOVIEVIEWS_JOB_NAME, so deployments
    sharing one Flink cluster each find their own."""
    return LiveJob(settings.job_name, group_of(settings.job_name))


@dataclass(frozen=True)
class Switched:
    job_id: str  # the new live job
    slot: int
    comparison: Comparison
    paused_s: float  # from the live job's stop to readers switched: counts frozen, never lower


def _versions_file(paths: StatePaths, live: LiveJob) -> Path:
    return paths.run / f"{live.name}.versions.json"


def kept(paths: StatePaths, live: LiveJob) -> dict[str, str | int] | None:
    """The old version: its slot, its job's id and savepoint; None once dropped (or before any rebuild)."""
    path = _versions_file(paths, live)
    return json.loads(path.read_text()) if path.exists() else None


def live_job(settings: Settings, live: LiveJob) -> flinkrest.JobInfo | None:
    """The job writing the slot readers read, if alive."""
    return flinkrest.live(settings, live.name, lambda: versions.current_slot(settings.owner_dsn))


def _live_job(settings: Settings, live: LiveJob, slot: int) -> str:
    found = flinkrest.alive(settings, live.name_in(slot))
    if not found:
        raise RebuildError(
            f"no running job named {live.name_in(slot)!r}: start it with `deploy/movieviews up`"
        )
    return found[0].job_id


def _caught_up(settings: Settings, live_id: str, new_id: str, step: progress.Step | None = None) -> bool:
    """Whether the new job has read as far as the live one in every partition; `step` is shown the records
    read of the live job's per partition, and the partitions still behind."""
    ahead = flinkrest.source_offsets(settings, live_id)
    behind = flinkrest.source_offsets(settings, new_id)
    if step is not None and ahead:
        # Records read (the offset after the last one read) of the new job and the live one, per partition.
        read = {part: (behind.get(part, -1) + 1, offset + 1) for part, offset in ahead.items()}
        left = [f"{t}/{p} {new:,}/{old:,}" for (t, p), (new, old) in read.items() if new < old]
        step.update(
            sum(min(new, old) for new, old in read.values()),
            sum(old for _, old in read.values()),
            "; ".join(left[:4]),
        )
    return bool(ahead) and all(behind.get(part, -1) >= offset for part, offset in ahead.items())


def _compared(settings: Settings, slots: tuple[int, int]) -> Comparison:
    found: list[Comparison] = []

    def settled() -> bool:
        found[:] = [versions.compare(*versions.rows(settings.owner_dsn, slots))]
        return not found[0].behind

    wait_until(
        settled, COMPARE_TIMEOUT_S, f"every movie of slot {slots[1]} at slot {slots[0]}'s version", POLL_S
    )
    return found[0]


def switch_to(
    settings: Settings,
    paths: StatePaths,
    live: LiveJob,
    target: int,
    restore_from: str | None,
    say: Callable[[str], None],
    catch_up_timeout_s: float,
    accept_changes: bool = False,
) -> Switched:
    """Steps 1-5 of the module's docstring, towards `target`: from offset zero, or from a kept savepoint."""
    current = versions.current_slot(settings.owner_dsn)
    if target == current:
        raise RebuildError(f"the API already reads slot {target}")
    live_name, name = live.name_in(current), live.name_in(target)
    live_id = _live_job(settings, live, current)
    new_id = jobs.submit(settings, live.config(settings, target), restore_from)
    origin = f"from savepoint {restore_from}" if restore_from else "from offset zero"
    say(f"job {name} ({new_id}) builds slot {target} {origin}; {live_name} keeps serving slot {current}")
    try:
        with progress.working(f"{name} catching up with {live_name} (records read)", say=say) as step:
            waited = wait_until(
                lambda: _caught_up(settings, live_id, new_id, step),
                catch_up_timeout_s,
                f"{name} caught up",
                POLL_S,
            )
        say(f"{name} caught up with {live_name} after {waited:.1f}s")
        savepoint = jobs.stop_with_savepoint(settings, live_id, live_name, say)
        stopped = time.monotonic()
        say(f"{live_name} stopped with savepoint {savepoint}: slot {current} holds one log position")
    except BaseException:
        _abandon(settings, paths, new_id, target, restore_from is None)
        _keep_serving(settings, live, live_id, current, say)
        raise
    try:
        comparison = _compared(settings, (current, target))
        say(f"compared: {comparison.summary()}")
        if comparison.differ and not accept_changes:
            raise RebuildError(f"slot {target} differs from slot {current}: {comparison.summary()}")
        versions.switch(settings.owner_dsn, target)
    except BaseException:
        jobs.submit(settings, live.config(settings, current), savepoint)
        say(f"{live_name} resumed from {savepoint}; slot {target} abandoned")
        _abandon(settings, paths, new_id, target, restore_from is None)
        raise
    paused = time.monotonic() - stopped
    say(f"readers switched to slot {target}: {name} ({new_id}) is the live job; updates paused {paused:.1f}s")
    # A rollback restored the rebuild job from the version kept before: that version's state goes once the
    # job has a checkpoint of its own (Flink's NO_CLAIM restore needs the savepoint until then), and the
    # version left now is kept instead.
    previous = kept(paths, live)
    _versions_file(paths, live).write_text(
        json.dumps({"slot": current, "job_id": live_id, "savepoint": savepoint})
    )
    if previous is not None:
        wait_until(
            lambda: flinkrest.checkpoints(settings, new_id)["counts"]["completed"] > 0,
            catch_up_timeout_s,
            f"a first checkpoint of {name}",
            POLL_S,
        )
        remove_job_state(paths.checkpoints, paths.savepoints, str(previous["job_id"]))
    return Switched(new_id, target, comparison, paused)


def _keep_serving(
    settings: Settings, live: LiveJob, live_id: str, slot: int, say: Callable[[str], None]
) -> None:
    """After a failed stop, a live job that ended all the same (its savepoint completed after the rebuild gave
    up) is resubmitted from that savepoint, so its slot keeps being written."""
    taken = jobs.final_savepoint(settings, live_id, live.name_in(slot))
    if taken is None:
        return
    jobs.submit(settings, live.config(settings, slot), taken)
    say(f"{live.name_in(slot)} had ended: resumed from {taken}")


def _abandon(settings: Settings, paths: StatePaths, job_id: str, slot: int, fresh: bool) -> None:
    flinkrest.cancel(settings, job_id)
    wait_until(lambda: flinkrest.job_state(settings, job_id) in flinkrest.ENDED, 60, f"job {job_id} ended")
    remove_job_state(paths.checkpoints, paths.savepoints, job_id)
    if fresh:
        versions.empty(settings.owner_dsn, slot)


def rebuild(
    settings: Settings,
    paths: StatePaths,
    live: LiveJob,
    say: Callable[[str], None],
    timeout_s: float,
    accept: bool,
) -> Switched:
    if kept(paths, live) is not None:
        raise RebuildError(
            "the previous version is still kept: `movieviews rebuild --drop-old` (or --rollback) first"
        )
    target = versions.other_slot(versions.current_slot(settings.owner_dsn))
    if not versions.is_empty(settings.owner_dsn, target):
        raise RebuildError(f"slot {target} holds rows no rebuild knows of: empty it with --drop-old")
    return switch_to(settings, paths, live, target, None, say, timeout_s, accept)


def rollback(
    settings: Settings, paths: StatePaths, live: LiveJob, say: Callable[[str], None], timeout_s: float
) -> Switched:
    old = kept(paths, live)
    if old is None:
        raise RebuildError("no previous version is kept: nothing to roll back to")
    # The old slot lacks what arrived since the switch: its job catches up from its savepoint first.
    return switch_to(settings, paths, live, int(old["slot"]), str(old["savepoint"]), say, timeout_s, True)


def drop_old(settings: Settings, paths: StatePaths, live: LiveJob, say: Callable[[str], None]) -> None:
    old = kept(paths, live)
    if old is None:
        raise RebuildError("no previous version is kept: nothing to drop")
    versions.empty(settings.owner_dsn, int(old["slot"]))
    remove_job_state(paths.checkpoints, paths.savepoints, str(old["job_id"]))
    shutil.rmtree(str(old["savepoint"]), ignore_errors=True)
    _versions_file(paths, live).unlink()
    say(f"dropped the old version: slot {old['slot']} emptied, job {old['job_id']}'s checkpoints removed")

"""`movieviews job`: submit to the standalone cluster, run embedded, stop with a savepoint, show status."""

from __future__ import annotations

import argparse
import subprocess

from deploy.flink import jobs
from deploy.flink.standalone import flink_env
from deploy.paths import StatePaths
from deploy.rebuild import main_job
from deploy.settings import Settings
from readmodel import versions
from stream import flinkrest
from stream.config import DEFAULT_GROUP_ID, JobConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(required=True, metavar="ACTION")
    submit = sub.add_parser("submit", help="send the job to the standalone cluster (web UI on the REST port)")
    local = sub.add_parser("run-local", help="run the job embedded, in the foreground, for development")
    for each in (submit, local):
        each.add_argument("--from", dest="restore", metavar="PATH", help="checkpoint or savepoint to restore")
        each.add_argument("--parallelism", type=int, help="default: MOVIEVIEWS_JOB_PARALLELISM")
        each.add_argument(
            "--name",
            help="default: the live job's (MOVIEVIEWS_JOB_NAME, or that name with -v2 after a rebuild)",
        )
        each.add_argument(
            "--group-id",
            help=f"Kafka consumer group (default: the live job's: {DEFAULT_GROUP_ID} for slot 1)",
        )
    stop = sub.add_parser("stop", help="stop the running job")
    stop.add_argument("--savepoint", action="store_true", help="take a savepoint first and print its path")
    stop.add_argument("--name", help="default: the live job's")
    status = sub.add_parser("status", help="jobs on Flink, and the dead-letter count of running ones")
    submit.set_defaults(run=_submit)
    local.set_defaults(run=_run_local)
    stop.set_defaults(run=_stop)
    status.set_defaults(run=_status)


def _config(args: argparse.Namespace, settings: Settings) -> JobConfig:
    # The version of the read model the API reads (`movieviews rebuild` switches it).
    slot = versions.current_slot(settings.owner_dsn)
    main = main_job(settings)
    name, group_id = args.name or main.name_in(slot), args.group_id or main.group_in(slot)
    return jobs.job_config(settings, name, group_id, args.parallelism, slot=slot)


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    config = _config(args, settings)
    job_id = jobs.submit(settings, config, args.restore)
    print(f"submitted {config.name}: job {job_id} ({settings.flink_rest}/#/job/running/{job_id}/overview)")
    return 0


def _run_local(args: argparse.Namespace, settings: Settings) -> int:
    argv = jobs.local_command(settings, _config(args, settings), args.restore)
    env = flink_env(StatePaths(settings.home))
    return subprocess.run(argv, env=env, check=False).returncode


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name or main_job(settings).name_in(versions.current_slot(settings.owner_dsn))
    found = flinkrest.alive(settings, name)
    if not found:
        print(f"no running job named {name!r}")
        return 1
    for job in found:
        if args.savepoint:
            print(jobs.stop_with_savepoint(settings, job.job_id, name, print))
        else:
            flinkrest.cancel(settings, job.job_id)
            print(f"cancelled {job.job_id}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    for job in flinkrest.jobs(settings):
        line = f"{job.job_id}  {job.state:<10} {job.name}"
        if job.state == flinkrest.JobState.RUNNING:
            line += f"  dead letters: {flinkrest.dead_letters(settings, job.job_id)}"
        print(line)
    return 0

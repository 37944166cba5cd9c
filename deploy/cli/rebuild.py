"""`movieviews rebuild`: a new version of the read model from the whole log, switched to once proved equal
(deploy/rebuild.py); `--rollback` switches back to the version kept, `--drop-old` lets it go."""

from __future__ import annotations

import argparse

from deploy import rebuild, system
from deploy.paths import StatePaths
from deploy.settings import Settings

# From offset zero at the job's speed on this machine: ~10k events/s quiet, a few hundred at load 30.
DEFAULT_TIMEOUT_S = 3600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--rollback", action="store_true", help="switch back to the version kept")
    action.add_argument("--drop-old", action="store_true", help="empty the version kept and remove its state")
    parser.add_argument(
        "--accept-changes",
        action="store_true",
        help="switch even where rows differ at the same version (a changed projection); counts may change",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to catch up")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    paths, live = StatePaths(settings.home), rebuild.main_job(settings)
    if args.drop_old:
        rebuild.drop_old(settings, paths, live, print)
        return 0
    if args.rollback:
        switched = rebuild.rollback(settings, paths, live, print, args.timeout)
    else:
        switched = rebuild.rebuild(settings, paths, live, print, args.timeout, args.accept_changes)
    system.remember_job(paths, switched.job_id)
    return 0

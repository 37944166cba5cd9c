"""What every deploy command shares: the state paths and one-line error reporting."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from deploy.errors import DeployError
from deploy.paths import StatePaths
from deploy.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def paths_of(settings: Settings) -> StatePaths:
    return StatePaths(settings.home)


def report_errors(command: Command) -> Command:
    """An operator gets the one line that says what failed and what to do, not a traceback."""

    @functools.wraps(command)
    def wrapper(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return command(args, settings)
        except DeployError as exc:
            print(f"movieviews {args.command}: {exc}", file=sys.stderr)
            return 1

    return wrapper

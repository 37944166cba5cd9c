"""How each step of `deploy/movieviews check` (`python -m deploy.<step>`) reports: one line of stderr per
problem, else one line of stdout saying what passed; exit 1 on any problem, and when the step cannot run at
all (a DeployError, such as a tool it needs missing), with that error in one line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from deploy.errors import DeployError


def report(find: Callable[[], Iterable[str]], passed: str) -> int:
    """`find` gives the problems; `passed` is the line printed when there are none."""
    try:
        found = list(find())
    except DeployError as exc:
        print(f"movieviews check: {exc}", file=sys.stderr)
        return 1
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        print(passed)
    return 1 if found else 0

"""`deploy/movieviews check` step: the shipped Prometheus config and alert rules pass promtool, and every
alert fires on its synthetic series and stays quiet on a healthy one (rules_test.yml)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from deploy.errors import DeployError
from deploy.prometheus.server import check
from deploy.settings import Settings


def main() -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="movieviews-promtool-") as folder:
            problems = check(Settings.from_env(os.environ), Path(folder))
    except DeployError as exc:
        print(f"movieviews check: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("promtool: prometheus.yml and rules.yml are valid; every alert passes its rules_test.yml cases")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

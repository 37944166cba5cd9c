"""`deploy/movieviews check` step: the shipped Prometheus config and alert rules pass promtool, and every
alert fires on its synthetic series and stays quiet on a healthy one (rules_test.yml)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from deploy import checkstep
from deploy.prometheus.server import check
from deploy.settings import Settings


def problems() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="movieviews-promtool-") as folder:
        return check(Settings.from_env(os.environ), Path(folder))


def main() -> int:
    passed = "promtool: prometheus.yml and rules.yml are valid; every alert passes its rules_test.yml cases"
    return checkstep.report(problems, passed)


if __name__ == "__main__":
    sys.exit(main())

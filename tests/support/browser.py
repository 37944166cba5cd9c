"""Headless Chromium for the dashboard's browser test: Debian's package, installed when missing.

Playwright (from PyPI) drives it; `playwright install` downloads a browser build of its own, which cannot
work on a machine without internet access.
"""

from __future__ import annotations

from pathlib import Path

from deploy import apt
from deploy.errors import DeployError

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox: the tests run as root, where Chromium refuses its sandbox. The rest keep a browser without
# internet access from trying to reach update, sync and component servers in the background.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
)


def ensure_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    apt.install("chromium", "chromium")
    if not CHROMIUM.exists():
        raise DeployError(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM

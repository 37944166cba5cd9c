"""Headless Chromium for the dashboard's browser test: Debian's package, installed when missing.

Playwright (from PyPI) drives it; `playwright install` downloads a browser build of its own, which cannot
work on a machine without internet access.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from deploy.errors import DeployError, MissingToolError

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
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise MissingToolError("chromium is missing: run `sudo apt-get install -y chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DeployError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()[-400:]}")
    if not CHROMIUM.exists():
        raise DeployError(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM

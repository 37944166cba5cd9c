"""Debian packages the stack runs (PostgreSQL, Prometheus, and Chromium for the browser test), installed with
apt-get when missing: the project's own files install everything on a fresh machine."""

from __future__ import annotations

import os
import shutil
import subprocess

from deploy.errors import DeployError, MissingToolError

# Another engineer's apt-get may hold the dpkg lock for a while; waiting beats failing.
LOCK_TIMEOUT_S = 300


def can_install(package: str, what: str) -> None:
    """Not root, or no apt-get: one line naming `what` as missing and the command that installs it."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise MissingToolError(f"{what} is missing: run `sudo apt-get install -y {package}`")


def install(package: str, what: str, recommends: bool = False) -> None:
    """`apt-get update`, then `apt-get install -y package` (`can_install` first); apt-get failing: a
    DeployError with its own last words."""
    can_install(package, what)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT_S}"]
    only = [] if recommends else ["--no-install-recommends"]
    for argv in (
        ["apt-get", *lock, "update", "-q"],
        ["apt-get", *lock, "install", "-y", "-q", *only, package],
    ):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DeployError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()[-400:]}")

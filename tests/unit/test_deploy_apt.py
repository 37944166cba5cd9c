"""Installing a missing Debian package: one line saying what to run when this process cannot, apt-get's own
words when it fails, and the lock waited for rather than failed on."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from deploy import apt
from deploy.errors import DeployError, MissingToolError


def test_without_root_it_names_what_is_missing_and_the_command_that_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(MissingToolError) as refused:
        apt.install("prometheus", "Prometheus")
    assert str(refused.value) == "Prometheus is missing: run `sudo apt-get install -y prometheus`"


def test_a_failing_apt_get_is_an_error_carrying_its_command_and_its_last_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[list[str]] = []

    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append(argv)
        failed = argv[-1] == "chromium"
        return subprocess.CompletedProcess(argv, 100 if failed else 0, "", "E: Unable to locate package\n")

    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda _name: "/usr/bin/apt-get")
    monkeypatch.setattr("subprocess.run", run)
    with pytest.raises(DeployError) as failed:
        apt.install("chromium", "chromium")
    lock = ["-o", f"DPkg::Lock::Timeout={apt.LOCK_TIMEOUT_S}"]
    assert ran == [
        ["apt-get", *lock, "update", "-q"],
        ["apt-get", *lock, "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ]
    assert str(failed.value) == f"`{' '.join(ran[1])}` failed: E: Unable to locate package"

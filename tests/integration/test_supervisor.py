"""The real supervisord (no other service): a killed program comes back by itself and is counted."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from deploy import procs, stack, supervisor
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.supervisor import Program
from deploy.wait import wait_until


def test_a_killed_program_is_restarted_counted_and_down_stops_everything_saying_each_step(
    tmp_path: Path,
) -> None:
    paths = StatePaths(tmp_path)
    program = Program("sleeper", ["sleep", "600"], tmp_path / "sleeper", start_s=1)
    started = supervisor.ensure_running([program], paths)
    assert started is not None
    try:
        supervisor.start(paths, "sleeper")
        wait_until(lambda: supervisor.state(paths, "sleeper") == "RUNNING", 30, "sleeper running")
        first = supervisor.program_pid(paths, "sleeper")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: supervisor.program_pid(paths, "sleeper") not in (None, first), 30, "a new sleeper")
        wait_until(lambda: supervisor.info(paths)[0].restarts == 1, 30, "the restart counted")
        (info,) = supervisor.info(paths)
        assert (info.name, info.restarts, info.last_restart.endswith("exited unexpectedly")) == (
            "sleeper",
            1,
            True,
        )
        second = supervisor.program_pid(paths, "sleeper")
        said: list[str] = []
        stack.down(Settings.from_env({}, home=tmp_path), paths, said.append)
        assert said == [
            f"stopping sleeper (pid {second})...",
            "stopped sleeper",
            f"stopped the supervisor (pid {started})",
        ]
    finally:
        if supervisor.pid(paths) is not None:
            supervisor.shutdown(paths)
    assert not procs.is_alive(started)
    assert second is not None and not procs.is_alive(second)
    assert supervisor.pid(paths) is None

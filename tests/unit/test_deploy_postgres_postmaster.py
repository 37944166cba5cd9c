"""A data directory's postmaster: recognised while it serves, and what a dead one left cleared."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deploy.postgres import postmaster


def test_a_lock_file_naming_another_program_is_removed_and_orphans_are_killed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    unrelated = subprocess.Popen(["sleep", "60"], cwd=tmp_path)
    orphan = subprocess.Popen(["sleep", "61"], cwd=data)
    (data / "postmaster.pid").write_text(f"{unrelated.pid}\n{data}\n")
    try:
        assert postmaster.serving(data) is None
        repairs = postmaster.clear_leftovers(data)
        assert repairs[0] == "killed 1 orphaned Postgres backend(s) holding shared memory"
        assert repairs[1].startswith(f"removed postmaster.pid naming pid {unrelated.pid}, now 'sleep 60'")
        assert orphan.wait(5) == -9
        assert not (data / "postmaster.pid").exists()
        assert unrelated.poll() is None
    finally:
        for proc in (unrelated, orphan):
            proc.kill()
            proc.wait()


def test_a_live_postmaster_of_the_data_dir_is_recognised(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = subprocess.Popen(["sleep", "60"], cwd=data)
    (data / "postmaster.pid").write_text(f"{server.pid}\n")
    try:
        assert postmaster.serving(data) == server.pid
    finally:
        server.kill()
        server.wait()

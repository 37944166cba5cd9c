"""The postmaster of a data directory: which one serves it, and what a dead one left that keeps a new one from
starting (its orphaned backends, its lock file)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from deploy import leftovers, procs


def _lock_file_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def serving(data: Path) -> int | None:
    """The postmaster serving `data`, if one runs: the pid its lock file names, alive, working in `data`."""
    found = _lock_file_pid(data)
    if found is not None and procs.is_alive(found) and procs.working_dir(found) == data.resolve():
        return found
    return None


def clear_leftovers(data: Path) -> list[str]:
    """After a postmaster died: its backends still hold the shared memory, so a new postmaster refuses to
    start until they are gone; and a lock file naming a pid that is now a zombie (or another program)
    makes it ask "Is another postmaster running?". Never called while a postmaster serves `data`."""
    repairs = []
    orphans = leftovers.find([data])
    if orphans:
        # The postmaster is dead: these backends can commit nothing the crash recovery would not redo.
        leftovers.clear(orphans, signal.SIGKILL, grace_s=0)
        repairs.append(f"killed {len(orphans)} orphaned Postgres backend(s) holding shared memory")
    stale = _lock_file_pid(data)
    if stale is not None:
        # No process works in `data` any more (just checked), so the file guards nothing: a pid that is gone,
        # a zombie (its parent died too and nobody reaps it) or a new unrelated program.
        try:
            os.kill(stale, 0)
            named = "a zombie" if not procs.is_alive(stale) else f"now {procs.command_line(stale)!r}"
        except ProcessLookupError:
            named = "which is gone"
        except PermissionError:
            named = f"now {procs.command_line(stale)!r}"
        (data / "postmaster.pid").unlink(missing_ok=True)
        repairs.append(f"removed postmaster.pid naming pid {stale}, {named}")
    return repairs

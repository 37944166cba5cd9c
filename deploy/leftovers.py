"""What a crashed stack leaves behind, found and cleared safely before anything starts again.

A process belongs to this stack when its working directory is one of the stack's program directories (each
supervised program runs in its own folder under the state dir; Postgres' backends live in the data
directory). That is exact across stacks on one machine (each has its own state dir) and survives what
Postgres does to its own command line and environment for `ps`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deploy import procs

# A JVM or postmaster given SIGTERM/SIGINT by `up` flushes and exits in seconds; then SIGKILL.
GRACE_S = 20.0
# The kernel frees a killed process's sockets and shared memory once its last thread has exited.
GONE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str
    cwd: Path


def _cwd(pid: int) -> Path | None:
    try:
        return Path(f"/proc/{pid}/cwd").readlink()
    except OSError:
        return None


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:80] or "?"


def find(folders: Iterable[Path]) -> list[Leftover]:
    """Live processes whose working directory is one of `folders` (never this process)."""
    wanted = {folder.resolve() for folder in folders}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        cwd = _cwd(pid)
        if cwd in wanted and procs.is_alive(pid):
            found.append(Leftover(pid, _command(pid), cwd))
    return found


def clear(leftovers: list[Leftover], sig: signal.Signals = signal.SIGTERM, grace_s: float = GRACE_S) -> None:
    """Sends `sig`, SIGKILL after the grace, and returns once every one of them is gone."""
    for each in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each.pid, sig)
    deadline = time.monotonic() + grace_s
    while any(procs.is_alive(each.pid) for each in leftovers) and time.monotonic() < deadline:
        time.sleep(0.1)
    for each in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each.pid, signal.SIGKILL)
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while any(procs.is_alive(each.pid) for each in leftovers) and time.monotonic() < deadline:
        time.sleep(0.1)


def describe(leftovers: list[Leftover]) -> str:
    """Pids with the folder each worked in (kafka, flink, api), so the line says which part was left."""
    return ", ".join(f"{each.pid} ({each.cwd.name})" for each in leftovers)


def postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def live_postmaster(data: Path) -> int | None:
    """The postmaster serving `data`, if one runs: the pid its lock file names, alive, working in `data`."""
    found = postmaster_pid(data)
    if found is not None and procs.is_alive(found) and _cwd(found) == data.resolve():
        return found
    return None


def clear_postgres(data: Path) -> list[str]:
    """After a postmaster died: its backends still hold the shared memory, so a new postmaster refuses to
    start until they are gone; and a lock file naming a pid that is now a zombie (or another program)
    makes it ask "Is another postmaster running?". Never called while a postmaster serves `data`."""
    repairs = []
    orphans = find([data])
    if orphans:
        # The postmaster is dead: these backends can commit nothing the crash recovery would not redo.
        clear(orphans, signal.SIGKILL, grace_s=0)
        repairs.append(f"killed {len(orphans)} orphaned Postgres backend(s) holding shared memory")
    stale = postmaster_pid(data)
    if stale is not None:
        # No process works in `data` any more (just checked), so the file guards nothing: a pid that is gone,
        # a zombie (its parent died too and nobody reaps it) or a new unrelated program.
        try:
            os.kill(stale, 0)
            named = "a zombie" if not procs.is_alive(stale) else f"now {_command(stale)!r}"
        except ProcessLookupError:
            named = "which is gone"
        except PermissionError:
            named = f"now {_command(stale)!r}"
        (data / "postmaster.pid").unlink(missing_ok=True)
        repairs.append(f"removed postmaster.pid naming pid {stale}, {named}")
    return repairs

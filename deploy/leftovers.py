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


def find(folders: Iterable[Path]) -> list[Leftover]:
    """Live processes whose working directory is one of `folders` (never this process)."""
    wanted = {folder.resolve() for folder in folders}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        cwd = procs.working_dir(pid)
        if cwd in wanted and procs.is_alive(pid):
            found.append(Leftover(pid, procs.command_line(pid), cwd))
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

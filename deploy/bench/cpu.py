"""CPU seconds spent by a server's processes and by the benchmark's own client: on 2 cores the client shares
the machine with the server it drives, so each is measured beside the figure. CPU per request moves much less
with what else runs than req/s does."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path


def tree(pid: int | None) -> list[int]:
    """A server's master `pid` and its worker processes (uvicorn's children); none for None."""
    if pid is None:
        return []
    with contextlib.suppress(FileNotFoundError):
        return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    return []


def seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """User + system CPU seconds of this process: the benchmark's client."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

"""Polling under a deadline: the only way anything here waits for another process."""

from __future__ import annotations

import time
from collections.abc import Callable

from deploy.errors import NotReadyError


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.25) -> float:
    """Returns the seconds it took; raises NotReadyError naming `what` when the deadline passes."""
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise NotReadyError(f"{what} not ready after {timeout_s:.0f}s")
        time.sleep(interval_s)

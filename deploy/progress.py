"""Progress of long work (`down`, `up`, `rebuild`'s catch-up, a benchmark's pre-load, a drill's phases), the
one owner of how it shows: on a terminal a live line (rich: spinner, elapsed time, and with a total a bar, the
count and an ETA) that the step's own final line replaces; otherwise (a log, CI, a captured test) the step's
line once, then its count at most every PLAIN_EVERY_S."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Without a terminal, a count line at most this often: a log that shows the work moves without drowning.
PLAIN_EVERY_S = 10.0


class Step:
    """What a long step reports as it goes: how far it got, of how much (when known), and a detail."""

    def __init__(self, what: str, total: float | None, say: Callable[[str], None]) -> None:
        self.what = what
        self.total = total
        self._say = say
        self._started = time.monotonic()
        self._said = self._started

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        self.total = total if total is not None else self.total
        now = time.monotonic()
        if now - self._said >= PLAIN_EVERY_S:
            self._said = now
            self._say(f"{self.what}: {self.count(done, now)}{f', {detail}' if detail else ''}")

    def count(self, done: float, now: float) -> str:
        """`done/total (pct), ETA` with a total, `done` without; the ETA from the rate since the start."""
        if not self.total:
            return f"{done:,.0f} after {now - self._started:.0f}s"
        rate = done / max(now - self._started, 1e-9)
        eta = f", ETA {(self.total - done) / rate:.0f}s" if 0 < done < self.total else ""
        return f"{done:,.0f}/{self.total:,.0f} ({100 * done / self.total:.0f}%){eta}"


class _LiveStep(Step):
    def __init__(self, what: str, total: float | None, bar: Progress, task: TaskID) -> None:
        super().__init__(what, total, lambda _line: None)
        self._bar, self._task = bar, task

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        self.total = total if total is not None else self.total
        description = f"{self.what}{f' ({detail})' if detail else ''}"
        self._bar.update(self._task, completed=done, total=self.total, description=description)


@contextmanager
def working(what: str, total: float | None = None, say: Callable[[str], None] = print) -> Iterator[Step]:
    """Shows `what` while the block runs; the block reports through the `Step` it gets (`update`)."""
    console = Console()
    if not console.is_terminal:
        say(f"{what}...")
        yield Step(what, total, say)
        return
    # A step without a total (yet) shows a pulsing bar and no ETA.
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    # Transient: the step's own line (`stopped kafka`) replaces it; what `print` writes meanwhile shows above.
    with Progress(*columns, console=console, transient=True) as bar:
        yield _LiveStep(what, total, bar, bar.add_task(what, total=total))

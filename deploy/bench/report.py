"""How every benchmark reports: a `Result` printed as a plain table and written as JSON under `<home>/bench/`
in one schema, stamped with the command, the commit and the machine with its load average at the start and the
end (on 2 cores, figures mean little without it):

    {"benchmark", "at", "command", "commit", "machine", "load_average", "parameters", "rows", "figures"}

`parameters` are what the run was asked to do, `rows` the table printed, `figures` the headline numbers
derived from the rows (ratios, costs) and anything that is not a row (memory per process); among them
"targets": each figure an issue set a target for, beside it and whether it was met (`against`). The first
target a run measured is its headline: the row `movieviews bench report` shows (deploy/bench/current.py)."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.settings import REPO_ROOT, Settings

# Set by `begin` when `movieviews bench` parses its command line, just before the benchmark runs.
_began: dict[str, Any] = {}


@dataclass(frozen=True)
class Result:
    benchmark: str
    parameters: dict[str, Any]
    rows: list[dict[str, Any]]
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """An issue's target for a figure: at least `bound`, or at most."""

    figure: str
    bound: float
    at_most: bool = False

    def verdict(self, measured: float | None, errors: int = 0) -> str:
        """Met only when the figure is within the bound and no request behind it failed (a figure taken
        over the successes alone says nothing of the failures); None: nothing succeeded."""
        within = measured is not None and (measured <= self.bound if self.at_most else measured >= self.bound)
        met = within and not errors
        sign = "<=" if self.at_most else ">="
        failed = f", {errors:,} errors" if errors else ""
        return f"{_cell(measured)} (target {sign} {_cell(self.bound)}: {'met' if met else 'missed'}{failed})"


def split_verdict(verdict: str) -> tuple[str, str, str]:
    """A `Target.verdict` text as (figure, target, verdict): "77,048", ">= 80,000", "missed"."""
    found = re.fullmatch(r"(.*) \(target (.*): (met|missed.*)\)", verdict)
    return (found[1], found[2], found[3]) if found else (verdict, "-", "-")


def against(
    targets: Sequence[Target], measured: Mapping[str, float | None], errors: Mapping[str, int] | None = None
) -> dict[str, str]:
    """The targets whose figure this run measured, each with the figure and whether it was met; `errors`:
    the failed requests behind a figure, which leave its target missed."""
    failed = errors or {}
    return {
        t.figure: t.verdict(measured[t.figure], failed.get(t.figure, 0))
        for t in targets
        if t.figure in measured
    }


# Runs of a figure per benchmark, each beside its ceiling: one run on a shared 2-core machine drifts with what
# else runs; the median of three, with their spread, shows how much it did.
RUNS = 3
Row = dict[str, Any]


def alternating(
    runs: int, figure: Callable[[], list[Row]], ceiling: Callable[[], list[Row]]
) -> tuple[list[list[Row]], list[list[Row]]]:
    """The figure's table and the ceiling's, taken in turn `runs` times (figure, ceiling, figure, ...): what
    the machine does meanwhile weighs on both alike."""
    figures: list[list[Row]] = []
    ceilings: list[list[Row]] = []
    for _ in range(runs):
        figures.append(figure())
        ceilings.append(ceiling())
    return figures, ceilings


def merged(
    runs: Sequence[Sequence[Row]], keys: Sequence[str], spread: Sequence[str] = ("req/s", "p99_ms")
) -> list[Row]:
    """Several runs of one table as one: rows matched by their `keys` columns; each other number becomes its
    median over the runs, a `spread` column followed by `<column> range` [min, max]; `errors` are summed
    (every failure counts)."""
    rows: list[Row] = []
    for group in zip(*runs, strict=True):
        row: Row = {key: group[0][key] for key in keys}
        for column, first in group[0].items():
            if column in keys:
                continue
            values = [r[column] for r in group]
            if column == "errors":
                row[column] = sum(values)
            elif all(isinstance(v, int | float) for v in values) and not isinstance(first, bool):
                row[column] = statistics.median(values)
                if column in spread:
                    row[f"{column} range"] = [min(values), max(values)]
            else:
                row[column] = first if all(v == first for v in values) else values
        rows.append(row)
    return rows


def beside(
    rows: list[Row],
    ceilings: list[Row],
    key: str,
    name: str,
    columns: Sequence[str] = ("req/s", "p99_ms", "server_cpu_us/req"),
) -> list[Row]:
    """`rows` (merged) each with the ceiling's row of the same `key` value: its `columns` (medians) and
    `x <name>`, the ratio of the first column's medians (the figure over the ceiling's)."""
    by_key = {top[key]: top for top in ceilings}
    out = []
    for row in rows:
        top = by_key[row[key]]
        extra = {f"{name} {column}": top.get(column) for column in columns}
        out.append({**row, **extra, f"x {name}": ratio(row.get(columns[0]), top.get(columns[0]))})
    return out


def ratio(figure: float | None, ceiling: float | None) -> float | None:
    return None if figure is None or not ceiling else round(figure / ceiling, 3)


def publish(settings: Settings, result: Result) -> Path:
    """Prints the table, the figures and the load average; writes the JSON; returns where."""
    print(table(result.rows))
    for name, value in result.figures.items():
        print(f"{name}: {_cell(value) if not isinstance(value, Mapping) else dict(value)}")
    path = write(settings, result)
    print(f"load average {load_average()}; written to {path}")
    return path


def begin(argv: Sequence[str] | None = None) -> None:
    """Remembers the command line (default: this process's) and the load average as the benchmark starts."""
    args = sys.argv[1:] if argv is None else argv
    _began.update(command=shlex.join(["movieviews", *args]), load=load_average())


def commit() -> str | None:
    """The checked-out commit, marked `+` when tracked files differ from it; None outside a git work tree."""
    try:
        head = _git("rev-parse", "--short=7", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def load_average() -> tuple[float, ...]:
    return tuple(round(x, 2) for x in os.getloadavg())


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Columns from the first row's keys; numbers right-aligned, floats with at most 2 decimals."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.rjust(w) for col, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return f"{_cell(value[0])}-{_cell(value[1])}"  # a spread, [min, max]
    return "-" if value is None else str(value)


def write(settings: Settings, result: Result) -> Path:
    stamp = datetime.now(UTC)
    path = settings.home / "bench" / f"{result.benchmark}-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": result.benchmark,
        "at": stamp.isoformat(),
        "command": _began.get("command"),
        "commit": commit(),
        "machine": machine(),
        "load_average": {"start": _began.get("load"), "end": load_average()},
        "parameters": result.parameters,
        "rows": result.rows,
        "figures": result.figures,
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path

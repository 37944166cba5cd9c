"""How every benchmark reports: a `Result` printed as a plain table and written as JSON under `<home>/bench/`
in one schema, stamped with the machine and its load average (on 2 cores, figures mean little without it):

    {"benchmark", "at", "machine", "load_average", "parameters", "rows", "figures"}

`parameters` are what the run was asked to do, `rows` the table printed, `figures` the headline numbers
derived from the rows (ratios, costs) and anything that is not a row (memory per process); among them
"targets": each figure an issue set a target for, beside it and whether it was met (`against`)."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.settings import Settings


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


def publish(settings: Settings, result: Result) -> Path:
    """Prints the table, the figures and the load average; writes the JSON; returns where."""
    print(table(result.rows))
    for name, value in result.figures.items():
        print(f"{name}: {_cell(value) if not isinstance(value, Mapping) else dict(value)}")
    path = write(settings, result)
    print(f"load average {load_average()}; written to {path}")
    return path


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
    return "-" if value is None else str(value)


def write(settings: Settings, result: Result) -> Path:
    stamp = datetime.now(UTC)
    path = settings.home / "bench" / f"{result.benchmark}-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": result.benchmark,
        "at": stamp.isoformat(),
        "machine": machine(),
        "load_average": load_average(),
        "parameters": result.parameters,
        "rows": result.rows,
        "figures": result.figures,
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path

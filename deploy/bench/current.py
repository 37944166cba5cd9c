"""`movieviews bench report`: the current figures, one row per benchmark from its newest JSON under
`<home>/bench/`: its headline figure (the first target the run measured), the target and whether it was met,
the command, the date, the commit and the load average from start to end. `--markdown` prints the table as
Markdown; `--paste FILE` replaces the table between the markers in FILE (README.md, docs/PERFORMANCE.md), so
those files never hold a superseded figure."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from deploy.bench import report
from deploy.bench.cli import BENCHMARKS
from deploy.errors import UsageError
from deploy.settings import Settings

BEGIN = "<!-- bench-report -->"
END = "<!-- /bench-report -->"
COLUMNS = ("benchmark", "figure", "target", "met", "command", "date", "commit", "load")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--paste", nargs="+", default=[], metavar="FILE", help=f"replace the table between {BEGIN} and {END}"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    runs = newest(settings.home / "bench")
    if args.paste:
        for name in args.paste:
            paste(Path(name), markdown(runs))
            print(f"{name}: table replaced between {BEGIN} and {END}")
    else:
        print(markdown(runs) if args.markdown else report.table([row(b, runs.get(b)) for b in BENCHMARKS]))
    return 0


def newest(directory: Path) -> dict[str, dict[str, Any]]:
    """Each benchmark's newest run among the JSON files in `directory` (none when it does not exist)."""
    runs: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        name = document.get("benchmark")
        if name and document["at"] >= runs.get(name, {}).get("at", ""):
            runs[name] = document
    return runs


def row(benchmark: str, document: Mapping[str, Any] | None) -> dict[str, str]:
    """One benchmark's row; a benchmark never run shows the command that measures it."""
    if document is None:
        return dict.fromkeys(COLUMNS, "-") | {
            "benchmark": benchmark,
            "figure": "not measured yet",
            "command": f"movieviews bench {benchmark}",
        }
    figures: Mapping[str, Any] = document.get("figures", {})
    targets: Mapping[str, str] = figures.get("targets", {})
    verdicts = [(name, *report.split_verdict(text)) for name, text in targets.items()]
    load = document.get("load_average")
    met = _met([v[3] for v in verdicts])
    if figures.get("passed") is False:
        # A benchmark with a verdict of its own (a soak: every series flat, no restart) did not pass, whatever
        # the targets it measured say.
        met = f"no (did not pass{': ' + figures['why'] if 'why' in figures else ''})"
    return {
        "benchmark": benchmark,
        "figure": f"{verdicts[0][0]}: {verdicts[0][1]}" if verdicts else "no target measured",
        "target": verdicts[0][2] if verdicts else "-",
        "met": met,
        "command": document.get("command") or "-",
        "date": datetime.fromisoformat(document["at"]).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": document.get("commit") or "-",
        "load": _load(load),
    }


def markdown(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """The table in Markdown, one row per benchmark in `movieviews bench`'s order."""
    rows = [row(name, runs.get(name)) for name in BENCHMARKS]
    lines = [_line(COLUMNS), _line(["---"] * len(COLUMNS))]
    lines += [_line(_markdown_cells(r)) for r in rows]
    if any(r["commit"].endswith("+") for r in rows):
        lines.append("\n`+` after a commit: measured with uncommitted changes to tracked files.")
    return "\n".join(lines)


def paste(path: Path, table: str) -> None:
    """Replaces what lies between the markers in `path` with `table`."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise UsageError(f"{path} has no {BEGIN} ... {END} markers to paste the table between")
    path.write_text(f"{text[: start + len(BEGIN)]}\n{table}\n{text[end:]}", encoding="utf-8")


def _met(verdicts: list[str]) -> str:
    if not verdicts:
        return "-"
    met = sum(v == "met" for v in verdicts)
    head = "yes" if verdicts[0] == "met" else "no"
    return head if len(verdicts) == 1 else f"{head} ({met} of {len(verdicts)} targets)"


def _load(load: Any) -> str:
    """The 1-minute load average at the start and the end; a run that recorded only the end shows `?`."""
    start, end = (load.get("start"), load.get("end")) if isinstance(load, Mapping) else (None, load)
    return "-" if not end else f"{start[0] if start else '?'} -> {end[0]}"


def _markdown_cells(cells: Mapping[str, str]) -> list[str]:
    out = []
    for column in COLUMNS:
        cell = cells[column].replace("|", "\\|")
        out.append(f"`{cell}`" if column == "command" and cell != "-" else cell)
    return out


def _line(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"

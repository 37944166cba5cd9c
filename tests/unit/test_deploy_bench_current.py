"""`movieviews bench report`: one current row per benchmark from its newest JSON, pasted between markers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploy.bench import current, report
from deploy.bench.cli import BENCHMARKS
from deploy.errors import UsageError
from deploy.settings import Settings


def _run(directory: Path, benchmark: str, at: str, targets: dict[str, str], **extra: Any) -> None:
    document = {
        "benchmark": benchmark,
        "at": at,
        "command": f"movieviews bench {benchmark} --events 600000",
        "commit": "3318e4f",
        "load_average": {"start": [1.25, 1.0, 0.9], "end": [3.5, 2.0, 1.1]},
        "figures": {"targets": targets},
        **extra,
    }
    (directory / f"{benchmark}-{at[:19]}.json").write_text(json.dumps(document), encoding="utf-8")


def test_each_benchmark_gets_one_row_from_its_newest_run_with_command_date_commit_and_load(
    tmp_path: Path,
) -> None:
    older = {"events/s over 1,000 movies": "54,238 (target >= 80,000: missed)"}
    newer = {
        "events/s over 1,000 movies": "97,047 (target >= 80,000: met)",
        "project/baseline": "0.71 (target >= 0.50: met)",
        "all off/baseline": "0.55 (target >= 0.60: missed)",
    }
    _run(tmp_path, "throughput", "2026-11-27T10:00:00+00:00", older)
    _run(tmp_path, "throughput", "2026-12-01T01:10:00+00:00", newer)
    _run(tmp_path, "freshness", "2026-12-01T01:00:00+00:00", {"p99_ms at 1000/s": "129 (target <= 250: met)"})

    table = current.markdown(current.newest(tmp_path)).splitlines()

    assert table[0] == "| benchmark | figure | target | met | command | date | commit | load |"
    assert len(table) == 2 + len(BENCHMARKS) <= 14
    assert (
        "| throughput | events/s over 1,000 movies: 97,047 | >= 80,000 | yes (2 of 3 targets) "
        "| `movieviews bench throughput --events 600000` | 2026-12-01 01:10 UTC | 3318e4f | 1.25 -> 3.5 |"
    ) in table
    assert (
        "| freshness | p99_ms at 1000/s: 129 | <= 250 | yes | `movieviews bench freshness --events 600000` "
        "| 2026-12-01 01:00 UTC | 3318e4f | 1.25 -> 3.5 |"
    ) in table
    assert "| produce | not measured yet | - | - | `movieviews bench produce` | - | - | - |" in table
    assert not any("54,238" in line for line in table)


def test_a_soak_that_did_not_pass_says_so_whatever_targets_it_met(tmp_path: Path) -> None:
    targets = {"heap after gc, % of max": "0.00 (target <= 70.00: met)", "restarts": "0 (target <= 0: met)"}
    why = "0 samples after the warm-up, fewer than 4"
    _run(tmp_path, "soak", "2026-12-07T14:03:01+00:00", targets)
    document = current.newest(tmp_path)["soak"]
    document["figures"] |= {"passed": False, "why": why}

    assert current.row("soak", document)["met"] == f"no (did not pass: {why})"
    document["figures"] = {"passed": False, "targets": targets}
    assert current.row("soak", document)["met"] == "no (did not pass)"
    document["figures"]["passed"] = True
    assert current.row("soak", document)["met"] == "yes (2 of 2 targets)"


def test_a_run_with_uncommitted_changes_is_marked_and_explained(tmp_path: Path) -> None:
    _run(tmp_path, "produce", "2026-12-01T02:00:00+00:00", {"acked/s": "159,719 (target >= 100,000: met)"})
    _run(tmp_path, "read", "2026-12-01T02:05:00+00:00", {}, commit="99da089+")

    table = current.markdown(current.newest(tmp_path))

    assert "| read | no target measured | - | - |" in table
    assert "| 99da089+ | 1.25 -> 3.5 |" in table
    assert "| 99da089+ |" in table
    assert table.endswith("`+` after a commit: measured with uncommitted changes to tracked files.")


def test_a_verdict_splits_into_the_figure_the_target_and_whether_it_was_met() -> None:
    verdict = report.Target("p99_ms at 50", 5.0, at_most=True).verdict(6.2, errors=3)
    assert report.split_verdict(verdict) == ("6.20", "<= 5.00", "missed, 3 errors")
    assert report.split_verdict(report.Target("events/s", 80_000).verdict(97_047)) == (
        "97,047",
        ">= 80,000",
        "met",
    )


def test_the_table_replaces_only_what_lies_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# title\n\n{current.BEGIN}\n| old | table |\n{current.END}\n\nafter\n", encoding="utf-8"
    )

    current.paste(readme, "| new | table |")

    assert readme.read_text(encoding="utf-8") == (
        f"# title\n\n{current.BEGIN}\n| new | table |\n{current.END}\n\nafter\n"
    )


def test_a_file_without_markers_is_refused_naming_them(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# title\n", encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        current.paste(readme, "| new | table |")
    assert (
        str(refused.value)
        == f"{readme} has no {current.BEGIN} ... {current.END} markers to paste the table between"
    )
    assert readme.read_text(encoding="utf-8") == "# title\n"


def test_each_run_records_the_command_line_and_the_load_when_it_began(tmp_path: Path) -> None:
    report.begin(["bench", "produce", "--events", "1000"])
    settings = Settings.from_env({"MOVIEVIEWS_HOME": str(tmp_path)})
    path = report.write(settings, report.Result("produce", {}, [], {}))
    assert path.parent == tmp_path / "bench"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["command"] == "movieviews bench produce --events 1000"
    assert len(document["load_average"]["start"]) == len(document["load_average"]["end"]) == 3
    assert document["commit"] is None or len(document["commit"].rstrip("+")) == 7


def test_a_run_that_recorded_only_the_final_load_shows_an_unknown_start(tmp_path: Path) -> None:
    _run(tmp_path, "read", "2026-12-01T02:05:00+00:00", {}, load_average=[8.66, 12.71, 11.21], command=None)
    assert "| read | no target measured | - | - | - | 2026-12-01 02:05 UTC | 3318e4f | ? -> 8.66 |" in (
        current.markdown(current.newest(tmp_path))
    )

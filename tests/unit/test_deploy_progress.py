"""Progress without a terminal (a log, CI): the step's line once, then its count with an ETA now and then."""

from __future__ import annotations

import time

import pytest

from deploy import progress


def test_without_a_terminal_a_step_says_its_line_then_its_count_and_eta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    said: list[str] = []
    with progress.working("pre-loading 1,000 events", 1000, say=said.append) as step:
        clock[0] += 5  # sooner than PLAIN_EVERY_S: nothing more
        step.update(100)
        clock[0] += 5
        step.update(250, detail="0 failed")
    assert said == [
        "pre-loading 1,000 events...",
        "pre-loading 1,000 events: 250/1,000 (25%), ETA 30s, 0 failed",
    ]


def test_a_step_without_a_total_counts_what_it_did(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    step = progress.Step("reading", None, lambda _line: None)
    assert step.count(42, 103.0) == "42 after 3s"

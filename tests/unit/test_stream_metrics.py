"""The job's own metrics, against a metric group that records what Flink would be told."""

from __future__ import annotations

from collections import defaultdict

from stream.taskmanager.metrics import REASONS, DeadLetterMetrics, StateMetrics


class FakeCounter:
    def __init__(self) -> None:
        self.count = 0
        self.calls = 0

    def inc(self, n: int = 1) -> None:
        self.count += n
        self.calls += 1


class FakeGroup:
    """Flink's MetricGroup as far as the job uses it: nested groups, key-value groups, counters."""

    def __init__(self, registry: dict[str, FakeCounter], scope: str = "") -> None:
        self._registry = registry
        self._scope = scope

    def add_group(self, name: str, extra: str | None = None) -> FakeGroup:
        part = name if extra is None else f"{name}={extra}"
        return FakeGroup(self._registry, f"{self._scope}{part}.")

    def counter(self, name: str) -> FakeCounter:
        return self._registry.setdefault(f"{self._scope}{name}", FakeCounter())


def counts(registry: dict[str, FakeCounter]) -> dict[str, int]:
    return {name: counter.count for name, counter in registry.items()}


def test_every_known_dead_letter_reason_has_a_counter_before_the_first_letter() -> None:
    registry: dict[str, FakeCounter] = defaultdict(FakeCounter)
    metrics = DeadLetterMetrics(FakeGroup(registry))
    assert {f"movieviews.reason={r}.dead_letters_total" for r in REASONS} == set(registry)
    metrics.dead_letter("undecodable")
    metrics.dead_letter("undecodable")
    metrics.dead_letter("something-new")
    assert registry["movieviews.reason=undecodable.dead_letters_total"].count == 2
    assert registry["movieviews.reason=something-new.dead_letters_total"].count == 1
    assert "unknown-schema" in REASONS


def test_updates_fill_a_cumulative_histogram_and_count_events_once_pushed() -> None:
    registry: dict[str, FakeCounter] = {}
    metrics = StateMetrics(FakeGroup(registry))
    for events in (1, 7, 7, 250, 20_000):
        metrics.applied(events)
    metrics.snapshot_written()
    metrics.push()
    got = counts(registry)
    assert got["movieviews.events_applied_total"] == 1 + 7 + 7 + 250 + 20_000
    assert got["movieviews.update_size_events_count"] == 5
    assert got["movieviews.update_size_events_sum"] == 20_265
    buckets = {le: got[f"movieviews.le={le}.update_size_events_bucket"] for le in ("1", "10", "100", "1000")}
    assert buckets == {"1": 1, "10": 3, "100": 3, "1000": 4}
    assert got["movieviews.le=10000.update_size_events_bucket"] == 4
    assert got["movieviews.le=+Inf.update_size_events_bucket"] == 5
    assert got["movieviews.snapshots_written_total"] == 1


def test_figures_reach_flink_in_one_call_per_counter_per_push() -> None:
    registry: dict[str, FakeCounter] = {}
    metrics = StateMetrics(FakeGroup(registry))
    for _ in range(1_000):
        metrics.applied(2)
    assert registry["movieviews.events_applied_total"].count == 0
    metrics.push()
    metrics.push()
    events = registry["movieviews.events_applied_total"]
    assert (events.count, events.calls) == (2_000, 1)

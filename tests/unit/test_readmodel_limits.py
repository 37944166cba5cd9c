"""Token buckets and the cost limits, without any service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from readmodel import apikeys
from readmodel.cost import MAX_ALIASES, MAX_ROOT_FIELDS
from readmodel.ratelimit import TokenBuckets
from readmodel.schema import build_schema

schema = build_schema()


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait(
    advance_buckets: Callable[[float], None],
) -> None:
    buckets = TokenBuckets()
    allowed = [buckets.take("k", rate_per_s=10, burst=20) == 0.0 for _ in range(20)]
    assert all(allowed)
    assert buckets.take("k", rate_per_s=10, burst=20) == pytest.approx(0.1)
    assert buckets.take("other", rate_per_s=10, burst=20) == 0.0
    advance_buckets(0.1)
    assert buckets.take("k", rate_per_s=10, burst=20) == 0.0
    assert buckets.take("k", rate_per_s=10, burst=20) == pytest.approx(0.1)


def test_a_refused_request_takes_no_token(advance_buckets: Callable[[float], None]) -> None:
    buckets = TokenBuckets()
    assert buckets.take("k", 1, 1) == 0.0
    assert [buckets.take("k", 1, 1) for _ in range(3)] == [pytest.approx(1.0)] * 3
    advance_buckets(0.25)
    assert buckets.take("k", 1, 1) == pytest.approx(0.75)
    advance_buckets(0.75)
    assert buckets.take("k", 1, 1) == 0.0


def test_workers_mapping_one_file_share_each_bucket(tmp_path: Path) -> None:
    # Two API workers are two processes mapping one file; two mappings in one process share it the same way.
    first, second = TokenBuckets(tmp_path / "b"), TokenBuckets(tmp_path / "b")
    try:
        taken = [(first if i % 2 else second).take("key:a", rate_per_s=1, burst=10) == 0.0 for i in range(14)]
        assert taken.count(True) == 10
    finally:
        first.close()
        second.close()


def test_workers_leasing_a_fast_keys_tokens_admit_exactly_its_burst_together(
    tmp_path: Path, advance_buckets: Callable[[float], None]
) -> None:
    # 1,000/s: each worker takes 10 ms of it (10 tokens) at a time from the shared bucket.
    first, second = TokenBuckets(tmp_path / "b"), TokenBuckets(tmp_path / "b")
    try:
        assert first.take("key:a", rate_per_s=1000, burst=2000) == 0.0  # leases 10, serves 1
        by_second = 0
        while second.take("key:a", rate_per_s=1000, burst=2000) == 0.0:
            by_second += 1
        assert by_second == 1990  # the burst less the first worker's lease
        by_first = [first.take("key:a", rate_per_s=1000, burst=2000) for _ in range(10)]
        assert by_first == [0.0] * 9 + [pytest.approx(0.001)]  # its lease's 9 left, then the bucket is empty
    finally:
        first.close()
        second.close()


def test_a_lapsed_lease_gives_its_unused_tokens_back_to_the_other_workers(
    tmp_path: Path, advance_buckets: Callable[[float], None]
) -> None:
    first, second = TokenBuckets(tmp_path / "b"), TokenBuckets(tmp_path / "b")
    try:
        assert first.take("key:a", rate_per_s=1000, burst=2000) == 0.0  # 9 of its lease unused
        while second.take("key:a", rate_per_s=1000, burst=2000) == 0.0:
            pass
        advance_buckets(0.011)  # the lease lapses; the bucket refills 11 tokens
        assert first.take("key:a", rate_per_s=1000, burst=2000) == 0.0  # returns 9, leases 10 of the 20
        by_second = 0
        while second.take("key:a", rate_per_s=1000, burst=2000) == 0.0:
            by_second += 1
        assert by_second == 10
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{" + " ".join(f"a{i}: movie(id: 1) {{ id }}" for i in range(MAX_ALIASES + 1)) + "}", "aliases"),
        (
            "{" + " ".join(f"a{i}: movie(id: 1) {{ id }}" for i in range(MAX_ROOT_FIELDS + 1)) + "}",
            "maxRootFields",
        ),
        (
            'mutation { a: recordView(movieId: "m") { eventId } b: recordView(movieId: "n") { eventId } }',
            "maxMutations",
        ),
        ("{" + " movie(id: 1) { id }" * 300 + "}", "1000 tokens"),
    ],
)
def test_costly_documents_are_refused_before_execution(query: str, expected: str) -> None:
    result = schema.execute_sync(query)
    assert result.data is None and any(expected in e.message for e in result.errors or [])


def test_a_key_is_its_public_id_and_a_secret() -> None:
    assert apikeys.split("mv_0a1b_se_cr-et") == ("0a1b", "se_cr-et")
    assert (
        apikeys.split("mv__x") is None and apikeys.split("xx_1_2") is None and apikeys.split("mv_1") is None
    )
    assert apikeys.digest("pepper", "s") != apikeys.digest("other", "s")

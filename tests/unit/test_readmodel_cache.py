from __future__ import annotations

import time

from starlette.responses import Response

from readmodel.cache import ResponseCache, asyncpg_dsn

A, B = Response(b"a"), Response(b"b")


def listening_cache(max_entries: int = 8, max_stale_s: float = 60.0) -> ResponseCache:
    cache = ResponseCache(max_entries, max_stale_s)
    cache.set_enabled(True)
    return cache


def store(cache: ResponseCache, key: bytes, response: Response, started_at: float | None = None) -> None:
    cache.put(key, response, cache.generation, time.monotonic() if started_at is None else started_at)


def test_nothing_is_reused_while_not_listening() -> None:
    cache = ResponseCache()
    store(cache, b"q", A)
    assert cache.lookup(b"q") == (None, False)


def test_response_is_fresh_until_a_change_then_stale() -> None:
    cache = listening_cache()
    store(cache, b"q", A)
    assert cache.lookup(b"q") == (A, True)
    cache.invalidate()
    assert cache.lookup(b"q") == (A, False)


def test_stale_response_expires() -> None:
    cache = listening_cache(max_stale_s=0.5)
    store(cache, b"q", A, started_at=time.monotonic() - 1)
    cache.invalidate()
    assert cache.lookup(b"q") == (None, False)


def test_response_computed_across_a_change_stays_stale() -> None:
    cache = listening_cache()
    started = cache.generation
    cache.invalidate()
    cache.put(b"q", A, started, time.monotonic())
    assert cache.lookup(b"q") == (A, False)


def test_older_data_never_replaces_newer() -> None:
    cache = listening_cache()
    old_generation = cache.generation
    cache.invalidate()
    store(cache, b"q", B)
    cache.put(b"q", A, old_generation, time.monotonic())
    assert cache.lookup(b"q") == (B, True)


def test_losing_the_listener_drops_everything() -> None:
    cache = listening_cache()
    store(cache, b"q", A)
    cache.set_enabled(False)
    cache.set_enabled(True)
    assert cache.lookup(b"q") == (None, False)


def test_oldest_entry_makes_room() -> None:
    cache = listening_cache(max_entries=2)
    for key in (b"1", b"2", b"3"):
        store(cache, key, A)
    assert [cache.lookup(k)[0] for k in (b"1", b"2", b"3")] == [None, A, A]


def test_dsn_drops_the_sqlalchemy_driver() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:1/d") == "postgresql://u:p@h:1/d"

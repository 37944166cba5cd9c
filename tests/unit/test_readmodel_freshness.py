from __future__ import annotations

from starlette.responses import Response

from readmodel.freshness import ResponseCache, asyncpg_dsn

A = Response(b"a")


def listening_cache(max_entries: int = 8) -> ResponseCache:
    cache = ResponseCache(max_entries)
    cache.set_enabled(True)
    return cache


def test_nothing_is_reused_while_not_listening() -> None:
    cache = ResponseCache()
    cache.put(b"q", A, cache.generation)
    assert cache.get(b"q") is None


def test_response_is_reused_until_a_change() -> None:
    cache = listening_cache()
    cache.put(b"q", A, cache.generation)
    assert cache.get(b"q") is A
    cache.invalidate()
    assert cache.get(b"q") is None


def test_response_computed_across_a_change_is_not_kept() -> None:
    cache = listening_cache()
    started = cache.generation
    cache.invalidate()
    cache.put(b"q", A, started)
    assert cache.get(b"q") is None


def test_losing_the_listener_drops_everything() -> None:
    cache = listening_cache()
    cache.put(b"q", A, cache.generation)
    cache.set_enabled(False)
    cache.set_enabled(True)
    assert cache.get(b"q") is None


def test_oldest_entry_makes_room() -> None:
    cache = listening_cache(max_entries=2)
    for key in (b"1", b"2", b"3"):
        cache.put(key, A, cache.generation)
    assert [cache.get(k) for k in (b"1", b"2", b"3")] == [None, A, A]


def test_dsn_drops_the_sqlalchemy_driver() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:1/d") == "postgresql://u:p@h:1/d"

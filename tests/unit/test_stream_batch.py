"""`decode_batch`: a partition's records in; summed Views per movie, registrations, dead letters out."""

from __future__ import annotations

from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import REGISTERED, VIEWED
from stream.taskmanager.batch import decode_batch
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.state import Registered, Views

CATALOG = Catalog.bundled()
EVENT_ID = "6f1c1f7e-7a44-4f53-9b7e-2f3c7a1d8e11"


def view(movie: str, at: int, watched: int | None = None) -> bytes:
    record: dict[str, object] = {"event_id": EVENT_ID, "movie_id": movie, "user_id": None, "occurred_at": at}
    if watched is None:
        return encode(CATALOG, VIEWED, record, version=1)
    return encode(CATALOG, VIEWED, {**record, "watch_seconds": watched}, version=2)


def run(payloads: list[bytes | None]) -> list[Views | Registered | DeadLetter]:
    return list(decode_batch(CATALOG, ("views", 3), list(range(100, 100 + len(payloads))), payloads))


def test_views_of_a_movie_are_summed_with_first_and_last_whatever_the_order() -> None:
    out = run([view("a", 50), view("b", 7, 30), view("a", 10, 5), view("a", 90)])
    assert out == [Views("a", 3, 5, 10, 90), Views("b", 1, 30, 7, 7)]


def test_registrations_and_rejections_pass_one_by_one_with_their_source() -> None:
    registration = {
        "event_id": EVENT_ID,
        "movie_id": "a",
        "title": "Alien",
        "year": 1979,
        "genre": "sci-fi",
        "occurred_at": 5,
    }
    out = run([b"\x00not avro", encode(CATALOG, REGISTERED, registration), None, view("a", 1)])
    letters = [item for item in out if isinstance(item, DeadLetter)]
    assert [(x.reason, x.offset, x.partition, x.source_topic) for x in letters] == [
        ("undecodable", 100, 3, "views"),
        ("undecodable", 102, 3, "views"),
    ]
    assert Registered("a", "Alien", 1979, "sci-fi", 5) in out
    assert out[-1] == Views("a", 1, 0, 1, 1)


def test_a_view_the_fast_reader_declines_is_still_counted_through_the_codec() -> None:
    blank_then_good = [view(" ", 1), view("a", 2)]
    out = run(blank_then_good)
    assert [item.reason for item in out if isinstance(item, DeadLetter)] == ["empty-movie-id"]
    assert out[-1] == Views("a", 1, 0, 2, 2)


def test_views_carry_their_counts_per_event_time_minute_for_trending() -> None:
    minute = 60_000
    out = run(
        [view("a", 5 * minute + 1), view("a", 5 * minute + 59_999), view("a", 7 * minute), view("b", 0)]
    )
    assert [(v.movie_id, v.minutes) for v in out if isinstance(v, Views)] == [
        ("a", ((5, 2), (7, 1))),
        ("b", ((0, 1),)),
    ]

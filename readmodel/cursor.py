"""Opaque topMovies cursors: the keyset position (view count, movie id) plus the rank and genre of that entry.

The rank travels in the cursor so the next page numbers on without counting the rows ahead of it; the genre so
a cursor from one ranking is refused by another instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from readmodel.errors import InvalidArgumentError
from schemas.errors import InvalidFieldError
from schemas.fields import check_id


@dataclass(frozen=True)
class Cursor:
    view_count: int
    movie_id: str
    rank: int
    genre: str | None

    def encode(self) -> str:
        raw = orjson.dumps([self.view_count, self.movie_id, self.rank, self.genre])
        return base64.urlsafe_b64encode(raw).decode("ascii")


def decode(value: str, genre: str | None) -> Cursor:
    try:
        view_count, movie_id, rank, cursor_genre = orjson.loads(
            base64.urlsafe_b64decode(value.encode("ascii"))
        )
    except (binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise _malformed() from exc
    if not (_is_int(view_count) and _is_int(rank) and _is_movie_id(movie_id) and rank >= 1):
        raise _malformed()
    if cursor_genre != genre:
        raise InvalidArgumentError(
            "after",
            f"the cursor belongs to the ranking for genre {cursor_genre!r}, not {genre!r}",
            "Page with the same genre the cursor came from, or start again without 'after'.",
        )
    return Cursor(view_count, movie_id, rank, cursor_genre)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_movie_id(value: object) -> bool:
    """A forged cursor's id goes to Postgres as a bound value: only one an event could hold."""
    try:
        check_id("movie_id", value)
    except InvalidFieldError:
        return False
    return True


def _malformed() -> InvalidArgumentError:
    return InvalidArgumentError(
        "after",
        "malformed cursor",
        "Pass the 'endCursor' of a previous topMovies page unchanged, or omit 'after' for the first page.",
    )

from __future__ import annotations

import base64

import pytest

from readmodel.cursor import Cursor, decode
from readmodel.errors import InvalidArgumentError


def test_cursor_round_trips() -> None:
    cursor = Cursor(view_count=2**40, movie_id="m-0001", rank=10, genre="drama")
    assert decode(cursor.encode(), "drama") == cursor


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'[1, "m", 0, null]').decode(),
        base64.urlsafe_b64encode(b'[true, "m", 1, null]').decode(),
        base64.urlsafe_b64encode(b'["1", "m", 1, null]').decode(),
        "ü",
    ],
)
def test_malformed_cursor_names_after(value: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        decode(value, None)
    assert caught.value.argument == "after"
    assert "malformed" in caught.value.message


def test_cursor_from_another_genre_is_refused() -> None:
    value = Cursor(5, "m-1", 1, "drama").encode()
    with pytest.raises(InvalidArgumentError, match="genre") as caught:
        decode(value, None)
    assert caught.value.extensions["argument"] == "after"

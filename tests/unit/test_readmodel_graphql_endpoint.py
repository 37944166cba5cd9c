from __future__ import annotations

import orjson
import pytest

from readmodel.graphql_endpoint import is_query


def body(query: str, operation_name: str | None = None) -> bytes:
    return orjson.dumps({"query": query, "operationName": operation_name})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (body("{ topMovies { asOf } }"), True),
        (body("query Top { topMovies { asOf } }"), True),
        (body('mutation { recordView(movieId: "m") { eventId } }'), False),
        (
            body(
                'query A { movie(id: "x") { id } } mutation B { recordView(movieId: "m") { eventId } }', "B"
            ),
            False,
        ),
        (
            body(
                'query A { movie(id: "x") { id } } mutation B { recordView(movieId: "m") { eventId } }', "A"
            ),
            True,
        ),
        (body("{ topMovies {"), False),
        (b"not json", False),
        (b"[]", False),
        (b'{"query": 1}', False),
    ],
)
def test_only_query_operations_are_reusable(raw: bytes, expected: bool) -> None:
    assert is_query(raw) is expected

"""recordView's direct lane answers exactly as Strawberry's execution of the same request would."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from strawberry.http import process_result
from test_readmodel_schema import ADMIN, FakeDelivery, FakePublisher, FakeStore

from ingest.errors import PublishError
from readmodel.apikeys import Principal
from readmodel.commands import Commands
from readmodel.context import ReadModelContext
from readmodel.recordview import RecordViews
from readmodel.schema import build_schema

schema = build_schema()
lane = RecordViews(schema)
pytestmark = pytest.mark.anyio

UUID = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
FULL = """mutation View($id: ID!, $user: ID, $seconds: Int, $event: ID) {
  recorded: recordView(movieId: $id, userId: $user, watchSeconds: $seconds, eventId: $event) {
    __typename movieId id: eventId acceptedAt eventId
  }
}"""


class FailingPublisher(FakePublisher):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def publish(self, event: Any, timeout: float) -> FakeDelivery:
        raise self.error


def context(publisher: FakePublisher, principal: Principal | None = ADMIN) -> ReadModelContext:
    return ReadModelContext(FakeStore([]), Commands(publisher), 100, principal=principal)  # type: ignore[arg-type]


async def both(
    query: str, variables: dict[str, Any] | None, publisher: FakePublisher, operation_name: str | None = None
) -> tuple[Any, Any, list[Any]]:
    """(the lane's answer or None, Strawberry's, the events each published in turn)."""
    plan = lane.plan(query, operation_name)
    direct = None if plan is None else await lane.run(plan, variables, context(publisher))
    direct_events = list(publisher.events)
    result = await schema.execute(
        query, variable_values=variables, context_value=context(publisher), operation_name=operation_name
    )
    return None if direct is None else direct.body, process_result(result), direct_events


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('mutation { recordView(movieId: "m-1") { eventId } }', None),
        (FULL, {"id": "m-1", "user": "u-1", "seconds": 30, "event": UUID}),
        (FULL, {"id": 7}),  # an ID given as a number is the string "7", as graphql-core coerces it
        ('mutation A { recordView(movieId: "m-1") { eventId } } query B { movie(id: "x") { id } }', None),
    ],
)
async def test_an_accepted_view_answers_the_same_body(query: str, variables: dict[str, Any] | None) -> None:
    direct, strawberry, events = await both(
        query, variables, FakePublisher(), "A" if "query B" in query else None
    )
    assert direct is not None and "errors" not in direct
    assert orjson.dumps(direct) == orjson.dumps(strawberry)  # the same bytes: keys in the same order
    assert len(events) == 1


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"id": "m-1", "event": "retry-1"}, "eventId"),  # not a UUID: refused by the command, named
        ({"id": "m-1", "seconds": -5}, "watchSeconds"),
        ({"id": ""}, "movieId"),
    ],
)
async def test_an_argument_the_command_refuses_is_named_as_strawberry_names_it(
    variables: dict[str, Any], argument: str
) -> None:
    direct, strawberry, events = await both(FULL, variables, FakePublisher())
    assert direct == strawberry
    assert direct["data"] is None and direct["errors"][0]["extensions"]["argument"] == argument
    assert direct["errors"][0]["path"] == ["recorded"] and events == []


@pytest.mark.parametrize(
    "variables",
    [{"id": None}, {}, {"id": "m-1", "seconds": "thirty"}, {"id": "m-1", "seconds": 2**40}, {"id": ["m"]}],
)
async def test_variables_that_do_not_coerce_are_left_to_strawberry(variables: dict[str, Any]) -> None:
    publisher = FakePublisher()
    plan = lane.plan(FULL, None)
    assert plan is not None
    assert await lane.run(plan, variables, context(publisher)) is None
    assert publisher.events == []


async def test_a_key_without_the_scope_is_left_to_strawberry() -> None:
    plan = lane.plan('mutation { recordView(movieId: "m-1") { eventId } }', None)
    movies_only = Principal("k-3", "catalog", frozenset({"movies:write"}), None)
    publisher = FakePublisher()
    assert plan is not None and await lane.run(plan, None, context(publisher, movies_only)) is None
    assert publisher.events == []


@pytest.mark.parametrize(
    "query",
    [
        "{ topMovies { asOf } }",
        'mutation { registerMovie(title: "T", year: 1999, genre: "drama") { movieId } }',
        'mutation { recordView(movieId: "m-1") { ...F } } fragment F on EventAccepted { eventId }',
        'mutation { recordView(movieId: "m-1") { eventId @skip(if: true) } }',
        'mutation { recordView(movieId: "m-1") { nope } }',
        'mutation { a: recordView(movieId: "m-1") { eventId } b: recordView(movieId: "m-2") { eventId } }',
        'mutation { recordView(movieId: "m-1") { eventId }',
    ],
)
def test_other_documents_are_left_to_strawberry(query: str) -> None:
    assert lane.plan(query, None) is None


@pytest.mark.parametrize("error", [PublishError("broker gone"), RuntimeError("a bug")])
async def test_a_failed_publish_answers_the_same_error(error: Exception) -> None:
    direct, strawberry, _ = await both(FULL, {"id": "m-1"}, FailingPublisher(error))
    assert direct == strawberry and direct["data"] is None
    assert "a bug" not in str(direct)  # masked, as MaskErrors masks it

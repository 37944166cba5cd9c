"""The API's log lines: JSON objects with the request's id, which also comes back in the response."""

from __future__ import annotations

import json
import logging
import logging.config
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from readmodel import logs
from readmodel.logs import RequestIds, logging_config

log = logging.getLogger("movieviews.test")


def app() -> Starlette:
    async def hello(request: Request) -> Response:
        log.warning("answering %s", request.url.path)
        return PlainTextResponse("hi")

    return Starlette(routes=[Route("/hello", hello)], middleware=[Middleware(RequestIds)])


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_each_line_is_json_with_the_request_id_the_client_got(
    anyio_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(logging_config(json_lines=True))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app()), base_url="http://api") as client:
            given = await client.get("/hello", headers={"X-Request-ID": "abc-123"})
            made = await client.get("/hello")
            forged = await client.get("/hello", headers={"X-Request-ID": "a\nb"})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "root": {"handlers": []}})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert forged.headers["x-request-id"] not in ("a\nb", "")
    ids = [line["request_id"] for line in lines if line["logger"] == "movieviews.test"]
    assert ids == ["abc-123", made.headers["x-request-id"], forged.headers["x-request-id"]]
    assert lines[0]["message"] == "answering /hello" and lines[0]["level"] == "WARNING"


def _record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("rdkafka", level, __file__, 1, "%s", (message,), None)


def refused(client: int) -> str:
    return f"FAIL [rdkafka#producer-{client}] 127.0.0.1:9092/bootstrap: Connection refused (after {client}ms)"


def test_a_repeated_warning_is_let_through_once_per_interval_then_with_how_many_were_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    limit = logs.RateLimit(every_s=60)
    passed = [limit.filter(_record(refused(n))) for n in range(1, 6)]  # alike but for their numbers
    assert passed == [True, False, False, False, False]
    assert limit.filter(_record("another message"))
    clock[0] += 60
    later = _record(refused(9))
    assert limit.filter(later)
    assert later.getMessage() == f"{refused(9)} (4 more like it in the last 60s)"


def test_lines_below_warning_are_not_rate_limited() -> None:
    limit = logs.RateLimit(every_s=60)
    assert all(limit.filter(_record("joined", logging.INFO)) for _ in range(3))

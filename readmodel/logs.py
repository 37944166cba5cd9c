"""The API's log lines: plain text or one JSON object a line (`MOVIEVIEWS_LOG_FORMAT=json`), each carrying the
id of the request it was written for.

A request's id is the client's `X-Request-ID` when it sends a sane one, else a new one; it comes back in the
response's `X-Request-ID` header, so a client's complaint can be matched to the API's lines.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
# A client's id is echoed into logs: bounded and plain, so it cannot forge lines or bloat them.
CLIENT_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
# A new id is this process's random half and its count of requests: unique across workers and restarts like a
# uuid4, without the getrandom call and UUID object per request (uuid4().hex took 2.8 µs here, this 0.8).
# A forked child draws its own half.
_ids = {"process": os.urandom(8).hex()}
_count = itertools.count(1)
os.register_at_fork(after_in_child=lambda: _ids.update(process=os.urandom(8).hex()))
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_NUMBERS = re.compile(r"\d+")
# Distinct messages a rate limit remembers: far more than a process logs kinds of lines, bounded all the same.
RATE_LIMIT_KEYS = 10_000


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class RateLimit(logging.Filter):
    """Lets each distinct warning or error through once per `every_s`, then the next one with how many like
    it were held back (lines below WARNING pass). Messages differing only in numbers are alike: a broker that
    is down makes every librdkafka client log the same refused connection (`rdkafka#producer-58`, `after 0ms`)
    many times a second."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self._every_s = every_s
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key -> (last let through, held)
        self._lock = threading.Lock()  # handlers call filters outside their own lock

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, _NUMBERS.sub("#", record.getMessage()))
        now = time.monotonic()
        with self._lock:
            last, held = self._seen.get(key, (-self._every_s, 0))
            if now - last < self._every_s:
                self._seen[key] = (last, held + 1)
                return False
            if len(self._seen) >= RATE_LIMIT_KEYS:  # many distinct lines: forget the old ones
                self._seen.clear()
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like it in the last {self._every_s:.0f}s)"
            record.args = ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def logging_config(json_lines: bool, level: str = "INFO", rate_limited: bool = False) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn's and the application's loggers alike. librdkafka's lines
    (`ground.kafka`) are rate-limited (`RateLimit`); with `rate_limited`, every line is (the CLI's)."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if json_lines else {"format": TEXT_FORMAT, "datefmt": "%Y-%m-%dT%H:%M:%S%z"}
    )
    filters = ["request_id", *(["rate_limit"] if rate_limited else [])]
    handler = {"class": "logging.StreamHandler", "formatter": "line", "filters": filters}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}, "rate_limit": {"()": RateLimit}},
        "formatters": {"line": formatter},
        "handlers": {"stderr": {**handler, "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")},
            # Once: a record goes through its logger's filters, then its handler's.
            "rdkafka": {"filters": [] if rate_limited else ["rate_limit"]},
        },
    }


class RequestIds:
    """ASGI middleware: the request's id in REQUEST_ID while it is served, and in the response's header."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_request_id(message.get("headers", []), request_id)
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def request_id_of(scope: Scope) -> str:
    """The client's `X-Request-ID` when it is sane, else a new id."""
    name: bytes
    value: bytes
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            if CLIENT_ID.fullmatch(value):
                return value.decode()
            break
    return f"{_ids['process']}{next(_count):016x}"


def with_request_id(headers: Iterable[tuple[bytes, bytes]], request_id: str) -> list[tuple[bytes, bytes]]:
    """A response's headers as the client gets them: the request's id last."""
    return [*headers, (HEADER, request_id.encode())]

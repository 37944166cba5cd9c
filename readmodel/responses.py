"""JSON responses for the REST calls, the health probes and the guard's refusals: a leaf that endpoint modules
and middlewares import, so none of them imports another endpoint module."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from readmodel.errors import ReadModelError, http_headers


def json_response(content: object, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code, headers, media_type="application/json")


def error_response(error: ReadModelError) -> Response:
    return json_response({"error": error.message, **error.extensions}, error.http_status, http_headers(error))

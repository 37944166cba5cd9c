"""Connections as mv_owner (the schema's owner) for the operator's commands on the read model: API keys and
read-model versions. Psycopg's errors leave here wrapped in the caller's own error, saying who refused."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from ground import MovieviewsError


@contextlib.contextmanager
def connect(owner_dsn: str, error: type[MovieviewsError], who: str) -> Iterator[psycopg.Connection[Any]]:
    try:
        with psycopg.connect(owner_dsn) as conn:
            yield conn
    except psycopg.Error as exc:
        raise error(f"{who} refused: {exc}") from exc

"""API keys: their format, how they are stored, and the set of live keys each API worker verifies against.

A key reads `mv_<key id>_<secret>`: the id is public (it names the row, `keys list` shows it), the secret
is 32 random bytes (256 bits) from `secrets`. Only HMAC-SHA256(pepper, secret) is stored.

Why HMAC and not a password hash (argon2, scrypt): a password hash is slow on purpose because passwords are
guessable; a 256-bit random secret is not, so its hash cannot be reversed either way, and the slowness would
be paid on every request (scrypt at OWASP's minimum, n=2^14 r=8, took 0.6 s here under load; HMAC-SHA256
takes microseconds). The pepper is a setting kept outside the database: a copy of `api_keys` alone cannot
even test a candidate key. Changing the pepper invalidates every key.

The API reads `api_keys` as mv_reader (SELECT only); `movieviews keys` writes it as mv_owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from ground import MovieviewsError
from readmodel import owner
from readmodel.errors import DatabaseUnavailableError
from readmodel.tables import api_keys

log = logging.getLogger(__name__)

PREFIX = "mv"
SCOPES = ("views:write", "movies:write", "admin")
# How often each worker reloads the live keys: a revoked key stops working within this.
REFRESH_S = 2.0
# An unknown key id triggers a reload (a key created a moment ago), but at most this often, so a client
# sending made-up keys cannot turn each request into a database query.
MIN_RELOAD_S = 0.5


class ApiKeyError(MovieviewsError):
    """A key operation failed; the message names the key or the value at fault."""


class KeyStoreError(ApiKeyError):
    """The key store (the api_keys table, as mv_owner) did not answer or refused; wraps psycopg's error."""


def _key_store(owner_dsn: str) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
    return owner.connect(owner_dsn, KeyStoreError, "the key store")


@dataclass(frozen=True)
class Principal:
    """Who sent a request: an authenticated key."""

    key_id: str
    name: str
    scopes: frozenset[str]
    rate_per_s: int | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class StoredKey:
    principal: Principal
    secret_hash: bytes


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    scopes: list[str]
    rate_per_s: int | None
    created_at: datetime
    revoked_at: datetime | None


def digest(pepper: str, secret: str) -> bytes:
    return hmac.digest(pepper.encode(), secret.encode(), "sha256")


def split(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def key_id(token: str) -> str:
    parts = split(token)
    if parts is None:
        raise ApiKeyError("not an API key: expected mv_<id>_<secret>")
    return parts[0]


def create(owner_dsn: str, pepper: str, name: str, scopes: list[str], rate_per_s: int | None = None) -> str:
    """Stores a new key and returns it: the only time the whole key exists outside the client."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiKeyError(f"scope {unknown!r} is not one of {', '.join(SCOPES)}")
    if rate_per_s is not None and rate_per_s < 1:
        raise ApiKeyError(f"rate must be at least 1 request/s, got {rate_per_s}")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with _key_store(owner_dsn) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_id, name, scopes, secret_hash, rate_per_s)"
            " VALUES (%s, %s, %s, %s, %s)",
            (key_id, name, sorted(set(scopes)), digest(pepper, secret), rate_per_s),
        )
    return f"{PREFIX}_{key_id}_{secret}"


def list_keys(owner_dsn: str) -> list[KeyInfo]:
    with _key_store(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT key_id, name, scopes, rate_per_s, created_at, revoked_at"
            " FROM api_keys ORDER BY created_at"
        ).fetchall()
    return [KeyInfo(*row) for row in rows]


def revoke(owner_dsn: str, key_id: str) -> None:
    with _key_store(owner_dsn) as conn:
        revoked = conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL", (key_id,)
        ).rowcount
    if not revoked:
        raise ApiKeyError(f"no live key with id {key_id!r} (see `movieviews keys list`)")


def is_live(owner_dsn: str, pepper: str, token: str) -> bool:
    """Whether a key the operator holds (the demo's, say) still verifies."""
    parts = split(token)
    if parts is None:
        return False
    with _key_store(owner_dsn) as conn:
        row = conn.execute(
            "SELECT secret_hash FROM api_keys WHERE key_id = %s AND revoked_at IS NULL", (parts[0],)
        ).fetchone()
    return row is not None and hmac.compare_digest(bytes(row[0]), digest(pepper, parts[1]))


class KeyRing:
    """The live keys, held in memory by each API worker and reloaded every REFRESH_S.

    Verifying a key costs an HMAC and a dict lookup, no database round trip; while Postgres is unreachable the
    last loaded keys keep working, so writes (which need only Kafka) do too.
    """

    def __init__(self, engine: AsyncEngine, pepper: str) -> None:
        self._engine = engine
        self._pepper = pepper
        self._keys: Mapping[str, StoredKey] | None = None  # None until the first load succeeds
        # Keys verified since the last load: a repeat costs a dict lookup instead of an HMAC. Only live keys
        # get here, and each load starts it afresh, so a revoked key leaves with the reload that drops it.
        self._verified: dict[str, Principal] = {}
        self._loaded_at = float("-inf")
        self._reload: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="api-keys-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def authenticate(self, token: str) -> Principal | None:
        verified = self._verified.get(token)
        if verified is not None:
            return verified
        parts = split(token)
        if parts is None:
            return None
        key_id, secret = parts
        stored = None if self._keys is None else self._keys.get(key_id)
        if stored is None:
            await self._load_since(time.monotonic())
        if self._keys is None:
            # Never loaded (Postgres down since start): the key cannot be judged either way.
            raise DatabaseUnavailableError()
        stored = self._keys.get(key_id)
        if stored is None or not hmac.compare_digest(stored.secret_hash, digest(self._pepper, secret)):
            return None
        self._verified[token] = stored.principal
        return stored.principal

    async def _refresh_forever(self) -> None:
        while True:
            await self._load_once()
            await asyncio.sleep(REFRESH_S)

    async def _load_since(self, arrived: float) -> None:
        """Waits for a load that started after `arrived` (a key created a moment ago is then known); starts
        one if none has, but at most one every MIN_RELOAD_S, however many unknown keys arrive."""
        while self._loaded_at < arrived:
            wait = self._loaded_at + MIN_RELOAD_S - time.monotonic()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        await self._load_once(start=self._loaded_at < arrived)

    async def _load_once(self, start: bool = True) -> None:
        # Concurrent requests share one load; `start=False` only waits for one already running.
        if start and (self._reload is None or self._reload.done()):
            self._loaded_at = time.monotonic()
            self._reload = asyncio.create_task(self._load())
        if self._reload is not None and not self._reload.done():
            await asyncio.shield(self._reload)

    async def _load(self) -> None:
        query = select(
            api_keys.c.key_id,
            api_keys.c.name,
            api_keys.c.scopes,
            api_keys.c.secret_hash,
            api_keys.c.rate_per_s,
        ).where(api_keys.c.revoked_at.is_(None))
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except (DBAPIError, PoolTimeout, OSError, TimeoutError) as exc:
            log.warning("could not reload API keys (%s); the last loaded keys stay in force", exc)
            return
        self._verified = {}
        self._keys = {
            row.key_id: StoredKey(
                Principal(row.key_id, row.name, frozenset(row.scopes), row.rate_per_s), bytes(row.secret_hash)
            )
            for row in rows
        }

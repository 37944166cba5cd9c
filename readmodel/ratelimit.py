"""Token buckets per client, shared by every worker process of one API server.

Each bucket is stored as one number, its GCRA "theoretical arrival time" (TAT): the generic cell rate
algorithm is the token bucket with the refill folded into a timestamp, so a check is one read-modify-write
of a 16-byte slot. A bucket whose TAT has passed is full, which is also what an empty slot means: a slot can
be reused as soon as its TAT passes, and a restart loses nothing that matters.

Holding the limit for the service as a whole: `movieviews serve` runs several uvicorn workers; each maps the
same file (`<home>/run/api-<port>.buckets`, 1 MiB) and updates it under an exclusive `flock`, so all workers
draw from one bucket per client. CLOCK_MONOTONIC (time.monotonic) is one clock for every process on the
machine. An app made in-process (tests) keeps its buckets in private memory.

Why not a library: `limits` has no token bucket (fixed/moving/sliding windows) and shares state across
processes only through Redis, Memcached or MongoDB, none of which this stack runs; a cluster deployment with
API servers on several machines needs such a store (docs/SECURITY.md, Threat model).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import mmap
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path

SLOT = struct.Struct("<Qd")  # key fingerprint (0: empty), TAT in time.monotonic() seconds
SLOTS = 1 << 16
# Slots looked at per key: a key lives in one of the PROBE slots after its hash.
PROBE = 8
# A microsecond: far above a float's rounding of TAT sums at monotonic() magnitudes (days of uptime), far
# below the interval of any limit a key is given (1 per 1e-6 s would be a million requests a second).
TOLERANCE_S = 1e-6


class TokenBuckets:
    def __init__(self, path: Path | None = None) -> None:
        size = SLOTS * SLOT.size
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, size)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        if os.fstat(self._fd).st_uid != os.getuid():
            os.close(self._fd)
            raise PermissionError(f"{path} belongs to another user; refusing to share rate limits with it")
        with self._locked():
            if os.fstat(self._fd).st_size != size:
                os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)

    def take(self, key: str, rate_per_s: float, burst: int) -> float:
        """Takes one token from `key`'s bucket: 0.0 if there was one, else the seconds until there is."""
        interval = 1.0 / rate_per_s
        capacity = burst * interval
        fingerprint = _fingerprint(key)
        with self._locked():
            now = time.monotonic()
            offset = self._slot(fingerprint, now) * SLOT.size
            stored, tat = self._read(offset)
            # A new key starts full, and so does an impossible TAT (stored before a reboot reset the clock).
            if stored != fingerprint or tat > now + capacity + TOLERANCE_S:
                tat = now
            tat = max(tat, now) + interval
            # TAT grows by float steps: a burst taken in the same instant sums `burst` of them to a hair over
            # `capacity` (20 x 0.1 = 2.0000000000000004), which must neither refuse the burst's last token
            # nor read as impossible above (and reset the bucket to full).
            if tat - now > capacity + TOLERANCE_S:
                # A refused request takes nothing: a client that keeps retrying is not locked out for longer.
                return tat - now - capacity
            SLOT.pack_into(self._map, offset, fingerprint, tat)
            return 0.0

    def _slot(self, fingerprint: int, now: float) -> int:
        """The key's slot, else the first free one (TAT passed), else the one closest to free."""
        start = fingerprint % SLOTS
        free, soonest, soonest_tat = -1, start, float("inf")
        for index in range(start, start + PROBE):
            index %= SLOTS
            stored, tat = self._read(index * SLOT.size)
            if stored == fingerprint:
                return index
            if free < 0 and tat <= now:
                free = index
            if tat < soonest_tat:
                soonest, soonest_tat = index, tat
        return free if free >= 0 else soonest

    def _read(self, offset: int) -> tuple[int, float]:
        stored, tat = SLOT.unpack_from(self._map, offset)
        return int(stored), float(tat)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._fd is None:
            # One process, one event loop thread: nothing runs between the read and the write.
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=4096)
def _fingerprint(key: str) -> int:
    """The key's 64-bit slot tag (never 0, which marks an empty slot); a key asks again on each request."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") | 1

"""Token buckets per client, shared by every worker process of one API server.

Each bucket is stored as one number, its GCRA "theoretical arrival time" (TAT): the generic cell rate
algorithm is the token bucket with the refill folded into a timestamp, so a check is one read-modify-write
of a 16-byte slot. A bucket whose TAT has passed is full, which is also what an empty slot means: a slot can
be reused as soon as its TAT passes, and a restart loses nothing that matters.

Holding the limit for the service as a whole: `movieviews serve` runs several uvicorn workers; each maps the
same file (`<home>/run/api-<port>.buckets`, 1 MiB) and updates it under an exclusive `flock`, so all workers
draw from one bucket per client. CLOCK_MONOTONIC (time.monotonic) is one clock for every process on the
machine. An app made in-process (tests) keeps its buckets in private memory.

Leases: the lock and unlock were the largest share of a cached read's own work (two syscalls per request;
docs/PERFORMANCE.md, "Where a cached read's time goes"). A worker sharing the file takes a key's tokens
LEASE_S of its rate at a time (one token below 1/LEASE_S a second, where nothing changes) and serves them from
its memory for at most LEASE_S; what is left then goes back to the shared bucket when the worker next sees
the key. Every admitted request spent a token of the shared bucket, taken at most LEASE_S before: workers
together never admit more than the bucket allows. A key may be refused while another worker holds part of a
lease: at most LEASE_S of its rate per other worker, the tokens the bucket refills in LEASE_S.

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
from dataclasses import dataclass
from pathlib import Path

SLOT = struct.Struct("<Qd")  # key fingerprint (0: empty), TAT in time.monotonic() seconds
SLOTS = 1 << 16
# Slots looked at per key: a key lives in one of the PROBE slots after its hash.
PROBE = 8
# A microsecond: far above a float's rounding of TAT sums at monotonic() magnitudes (days of uptime), far
# below the interval of any limit a key is given (1 per 1e-6 s would be a million requests a second).
TOLERANCE_S = 1e-6
# How far ahead a worker sharing the file takes a key's tokens: 10 ms of the rate, so one lock per 100
# requests of a key sending 10,000/s, and no more than 10 ms of its rate unusable to the other workers.
LEASE_S = 0.01
# Keys a worker holds leases for; past it they are dropped (their tokens stay spent, as if used).
MAX_LEASES = 4096


@dataclass
class _Lease:
    tokens: int
    until: float  # time.monotonic() after which the tokens go back


class TokenBuckets:
    def __init__(self, path: Path | None = None) -> None:
        size = SLOTS * SLOT.size
        self._fd: int | None = None
        self._leases: dict[str, _Lease] = {}
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
        size = min(burst, int(rate_per_s * LEASE_S))
        if self._fd is None or size <= 1:
            return self._take(key, rate_per_s, burst, 1, 0)[0]
        lease = self._leases.get(key)
        now = time.monotonic()
        if lease is not None and lease.tokens and now < lease.until:
            lease.tokens -= 1
            return 0.0
        returned = lease.tokens if lease is not None else 0
        if lease is None and len(self._leases) >= MAX_LEASES:
            self._leases.clear()
        wait, taken = self._take(key, rate_per_s, burst, size, returned)
        self._leases[key] = _Lease(max(0, taken - 1), now + LEASE_S)
        return wait

    def _take(self, key: str, rate_per_s: float, burst: int, wanted: int, returned: int) -> tuple[float, int]:
        """Gives `returned` tokens back to `key`'s bucket, then takes up to `wanted`, at least one: (0.0, how
        many) if there was one, else (the seconds until there is, 0)."""
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
            tat = max(tat - returned * interval, now)
            # TAT grows by float steps: a burst taken in the same instant sums `burst` of them to a hair over
            # `capacity` (20 x 0.1 = 2.0000000000000004), which must neither refuse the burst's last token
            # nor read as impossible above (and reset the bucket to full).
            available = int((capacity + TOLERANCE_S - (tat - now)) / interval)
            if available < 1:
                # A refused request takes nothing: a client that keeps retrying is not locked out for longer.
                if returned:
                    SLOT.pack_into(self._map, offset, fingerprint, tat)
                return tat + interval - now - capacity, 0
            taken = min(wanted, available)
            SLOT.pack_into(self._map, offset, fingerprint, tat + taken * interval)
            return 0.0, taken

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

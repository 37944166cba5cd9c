"""`movieviews bench live`: N concurrent `topMoviesChanged` subscribers on one API process; from the commit of
a snapshot that changes the ranking to its message at each client, p50/p99, and the API process's CPU.

Each change puts one movie on top with a view count that names the change (BASE + k), so a client knows which
change a message reports without a clock of the server's. Changes are spaced wider than the subscriptions'
coalescing interval: what is measured is fan-out latency, not the deliberate 200 ms coalescing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
from typing import Any

import psycopg
import uvloop

from deploy.bench import report
from deploy.sandbox import Sandbox
from deploy.settings import Settings
from readmodel.client import LiveClient, live_client

TOP = "subscription { topMoviesChanged(limit: 10) { entries { viewCount movie { id } } } }"
BASE = 1_000_000_000
SEED_MOVIES = 1000
# Wider than readmodel.live.MIN_INTERVAL_S, so no change waits for the previous one's coalescing window.
CHANGE_EVERY_S = 0.5
TARGET_P99_MS = 200.0
CONNECT_BATCH = 100
RECEIVE_TIMEOUT_S = 30.0
UPSERT = """
INSERT INTO movie_stats (movie_id, view_count, watch_seconds, version, updated_at)
VALUES (%s, %s, 0, %s, now())
ON CONFLICT (movie_id) DO UPDATE SET view_count = EXCLUDED.view_count, version = EXCLUDED.version,
    updated_at = now()
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000], help="levels")
    parser.add_argument("--changes", type=int, default=40, help="ranking changes per level")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report.publish(settings, bench_live(settings, tuple(args.subscribers), args.changes))
    return 0


def bench_live(settings: Settings, levels: tuple[int, ...], changes: int) -> report.Result:
    with Sandbox(settings, "bench-live") as env:
        _seed(env.settings)
        env.start_api()
        url = env.settings.graphql_ws_url
        pid = env.api_pid
        rows = [
            uvloop.run(_level(env.settings, url, env.api_key, pid, n, changes, k * changes))
            for k, n in enumerate(levels)
        ]
    parameters = {"subscribers": list(levels), "changes_per_level": changes, "change_every_s": CHANGE_EVERY_S}
    measured = {f"p99_ms at {row['subscribers']}": row["p99_ms"] for row in rows}
    targets = [report.Target(figure, TARGET_P99_MS, at_most=True) for figure in reversed(measured)]
    return report.Result("live", parameters, rows, {"targets": report.against(targets, measured)})


def _seed(settings: Settings) -> None:
    with psycopg.connect(settings.writer_dsn) as conn, conn.cursor() as cur:
        cur.executemany(UPSERT, [(f"m-{n:04d}", n, 1) for n in range(SEED_MOVIES)])


async def _level(
    settings: Settings, url: str, key: str, pid: int, subscribers: int, changes: int, first: int
) -> dict[str, Any]:
    arrivals: list[tuple[int, float]] = []
    committed: dict[int, float] = {}
    async with _Clients(url, subscribers, key) as clients:
        ready = [asyncio.create_task(c.receive(RECEIVE_TIMEOUT_S)) for c in clients]
        await asyncio.gather(*ready)  # every client has its first message: the current ranking
        # The clients' objects are this process's, not the API's: frozen, a full collection does not walk them
        # in the middle of a change's messages, where they would add the client's pauses to the latency
        # measured (docs/PERFORMANCE.md, "Live subscriptions: fan-out").
        gc.collect()
        gc.freeze()
        readers = [asyncio.create_task(_read(c, first + changes - 1, arrivals)) for c in clients]
        cpu_before, clients_before, started = _cpu_seconds(pid), _cpu_seconds(os.getpid()), time.monotonic()
        for k in range(first, first + changes):
            await asyncio.to_thread(_commit, settings, k, committed)
            await asyncio.sleep(CHANGE_EVERY_S)
        await asyncio.wait_for(asyncio.gather(*readers), RECEIVE_TIMEOUT_S)
        elapsed = time.monotonic() - started
        api_cpu = _cpu_seconds(pid) - cpu_before
        clients_cpu = _cpu_seconds(os.getpid()) - clients_before
        gc.unfreeze()
    latencies = sorted(arrived - committed[k] for k, arrived in arrivals if k in committed)
    return {
        "subscribers": subscribers,
        "messages": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
        "api_cpu_%": api_cpu / elapsed * 100,
        # The API's work per change, whatever share of a core a loaded machine gives it: on an idle core,
        # about the time the last subscriber waits for its message.
        "api_cpu_ms_per_change": api_cpu / changes * 1000,
        "clients_cpu_%": clients_cpu / elapsed * 100,
    }


def _commit(settings: Settings, k: int, committed: dict[int, float]) -> None:
    with psycopg.connect(settings.writer_dsn, autocommit=True) as conn:
        conn.execute(UPSERT, (f"m-top-{k % 3}", BASE + k, k + 2))
        committed[k] = time.monotonic()


async def _read(client: LiveClient, last: int, arrivals: list[tuple[int, float]]) -> None:
    """Until the message of change `last`: (change, arrival time) of each."""
    seen = -1
    while seen < last:
        message = await client.receive(RECEIVE_TIMEOUT_S)
        arrived = time.monotonic()
        seen = message["payload"]["data"]["topMoviesChanged"]["entries"][0]["viewCount"] - BASE
        arrivals.append((seen, arrived))


class _Clients:
    """`n` connected, acknowledged clients, each with one subscription; all closed on exit."""

    def __init__(self, url: str, n: int, api_key: str) -> None:
        # Clients like any other, with a key: a thousand sockets from one address exceed the anonymous rate.
        self._url, self._n, self._key = url, n, api_key
        self._contexts: list[Any] = []

    async def __aenter__(self) -> list[LiveClient]:
        clients: list[LiveClient] = []
        for start in range(0, self._n, CONNECT_BATCH):
            batch = min(CONNECT_BATCH, self._n - start)
            contexts = [live_client(self._url, api_key=self._key) for _ in range(batch)]
            self._contexts += contexts
            clients += await asyncio.gather(*(c.__aenter__() for c in contexts))
        for n, client in enumerate(clients):
            await client.subscribe(str(n), TOP)
        return clients

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(c.__aexit__(None, None, None) for c in self._contexts), return_exceptions=True)


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: PTH123, SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

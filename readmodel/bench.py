"""`movieviews bench read`: topMovies and movie(id) latency and throughput against a running API.

Closed-loop clients, each on its own keep-alive connection, speaking plain HTTP/1.1 over asyncio streams:
httpx costs more CPU per request than the server does for a reused response, and on two cores the load
generator's overhead would otherwise be what gets measured.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import uvloop

from deploy.settings import Settings

TOP = "query Top($limit: Int!) { topMovies(limit: $limit) { asOf entries { rank viewCount movie { id } } } }"
MOVIE = "query Movie($id: ID!) { movie(id: $id) { id title viewCount lastViewedAt } }"
WARMUP_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (default: settings api_url)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50], help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")


def run(args: argparse.Namespace, settings: Settings) -> int:
    results = bench_read(settings, args.url or settings.api_url, tuple(args.clients), args.seconds)
    print(f"{'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for clients, row in results.items():
        print(
            f"{clients:>7} {row['rps']:>9.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['errors']:>7}"
        )
    return 0


def bench_read(
    settings: Settings, base_url: str, clients: Sequence[int] = (1, 10, 50), seconds: float = 10.0
) -> dict[int, dict[str, Any]]:
    requests = _requests(base_url, _some_movie_id(base_url, settings.top_limit_max))
    return {n: uvloop.run(_level(base_url, requests, n, seconds)) for n in clients}


def _some_movie_id(base_url: str, limit: int) -> str:
    body = {"query": TOP, "variables": {"limit": min(10, limit)}}
    entries = httpx.post(f"{base_url}/graphql", json=body, timeout=10).json()["data"]["topMovies"]["entries"]
    return str(entries[0]["movie"]["id"]) if entries else "m-0001"


def _requests(base_url: str, movie_id: str) -> list[bytes]:
    host = urlsplit(base_url).netloc
    bodies = [
        orjson.dumps({"query": TOP, "variables": {"limit": 10}}),
        orjson.dumps({"query": MOVIE, "variables": {"id": movie_id}}),
    ]
    return [
        (
            f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


async def _level(base_url: str, requests: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    url = urlsplit(base_url)
    latencies: list[float] = []
    errors = [0]
    start = time.perf_counter()
    measure_from, stop_at = start + WARMUP_S, start + WARMUP_S + seconds

    async def client(index: int) -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
        i = index
        while (now := time.perf_counter()) < stop_at:
            writer.write(requests[i % len(requests)])
            i += 1
            ok = await _read_response(reader)
            done = time.perf_counter()
            if now >= measure_from:
                latencies.append(done - now)
                errors[0] += not ok
        writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": errors[0],
    }


async def _read_response(reader: asyncio.StreamReader) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    # A GraphQL error still answers 200; the top-level "errors" key is what marks it.
    return head.startswith(b"HTTP/1.1 200") and b'"errors"' not in body

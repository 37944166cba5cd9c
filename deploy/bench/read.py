"""`movieviews bench read`: topMovies and movie(id) latency and throughput against a running API.

Closed-loop clients, each on its own keep-alive connection, speaking plain HTTP/1.1 over asyncio streams:
httpx costs more CPU per request than the server does for a reused response, and on two cores the load
generator's overhead would otherwise be what gets measured.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import uvloop

from deploy import supervisor
from deploy.bench import ceiling, cpu, report
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.stack import API
from ingest.loadgen import generate
from readmodel import apikeys

TOP = "query Top($limit: Int!) { topMovies(limit: $limit) { asOf entries { rank viewCount movie { id } } } }"
MOVIE = "query Movie($id: ID!) { movie(id: $id) { id title viewCount lastViewedAt } }"
WARMUP_S = 1.0
BENCH_KEY_RATE = 10_000_000
# --write-rate: the generator's process starts while the first level warms up; it runs this much longer.
WRITER_START_S = 3.0
WRITE_MOVIES = 1000
# The issue's: at 50 clients, without writes and while at least 10k events/s flow.
TARGET_WRITE_RATE = 10_000
TARGETS = (report.Target("x bare at 50", 0.8), report.Target("p99_ms at 50", 8.0, at_most=True))
TARGETS_UNDER_WRITES = (report.Target("p99_ms at 50", 25.0, at_most=True),)
BARE = "bare"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (default: settings api_url)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50], help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument(
        "--write-rate", type=int, default=0, help="views/s produced to the stack's topic while reads run"
    )
    parser.add_argument("--runs", type=int, default=report.RUNS, help="runs, each beside the bare app's")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = args.url or settings.api_url
    result = bench_read(settings, url, tuple(args.clients), args.seconds, args.write_rate, args.runs)
    report.publish(settings, result)
    return 0


def bench_read(
    settings: Settings,
    base_url: str,
    clients: Sequence[int] = (1, 10, 50),
    seconds: float = 10.0,
    write_rate: int = 0,
    runs: int = report.RUNS,
) -> report.Result:
    """`runs` times, the API, then a bare Starlette app answering the same requests with the same bytes
    (deploy.bench.ceiling), at each concurrency level. With `write_rate`, a load generator in a process of
    its own (not the clients' interpreter) produces that many views/s to the views topic for the whole
    measurement: reads while the read model changes."""
    # A client like any other, with a key of its own whose rate is far above what it can send.
    key = apikeys.create(settings.owner_dsn, settings.api_key_pepper, "bench-read", [], BENCH_KEY_RATE)
    try:
        movie_id = _some_movie_id(base_url, settings.top_limit_max, key)
        bodies = [
            orjson.dumps({"query": TOP, "variables": {"limit": 10}}),
            orjson.dumps({"query": MOVIE, "variables": {"id": movie_id}}),
        ]
        requests = raw_requests(base_url, bodies, key)
        answers = [(body, _answer(base_url, body, key)) for body in bodies]
        api = api_pid(settings, base_url)
        with (
            ceiling.serving(settings, ceiling.READ, answers) as bare,
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as writer,
        ):
            bare_requests = raw_requests(bare.url, bodies, None)
            produced = (
                writer.submit(
                    generate,
                    settings,
                    rate=write_rate,
                    seconds=2 * runs * len(clients) * (WARMUP_S + seconds) + WRITER_START_S,
                    movies=WRITE_MOVIES,
                )
                if write_rate
                else None
            )
            figure_runs, bare_runs = report.alternating(
                runs,
                lambda: [measure(base_url, requests, n, seconds, api) for n in clients],
                lambda: [measure(bare.url, bare_requests, n, seconds, bare.pid, http_ok) for n in clients],
            )
            figures: dict[str, Any] = {}
            if produced is not None:
                figures["produced_events/s"] = round(produced.result().events_per_s)
        rows = report.beside(
            report.merged(figure_runs, ["clients"]), report.merged(bare_runs, ["clients"]), "clients", BARE
        )
        targets = (
            TARGETS if not write_rate else TARGETS_UNDER_WRITES if write_rate >= TARGET_WRITE_RATE else ()
        )
        measured, errors = {}, {}
        for row in rows:
            for column in ("p99_ms", f"x {BARE}"):
                figure = f"{column} at {row['clients']}"
                measured[figure], errors[figure] = row[column], row["errors"]
        figures["targets"] = report.against(targets, measured, errors)
        parameters = {
            "url": base_url,
            "clients": list(clients),
            "seconds": seconds,
            "write_rate": write_rate,
            "runs": runs,
        }
        return report.Result("read", parameters, rows, figures)
    finally:
        apikeys.revoke(settings.owner_dsn, apikeys.key_id(key))


def _answer(base_url: str, body: bytes, key: str) -> bytes:
    """The bytes the API answers `body` with: what the bare app will answer it with."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return httpx.post(f"{base_url}/graphql", content=body, headers=headers, timeout=10).content


def api_pid(settings: Settings, base_url: str) -> int | None:
    """The stack's API server (supervisord owns it), when `base_url` is its: its CPU is then measured."""
    return supervisor.program_pid(StatePaths(settings.home), API) if base_url == settings.api_url else None


def _some_movie_id(base_url: str, limit: int, key: str) -> str:
    body = {"query": TOP, "variables": {"limit": min(10, limit)}}
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(f"{base_url}/graphql", json=body, headers=headers, timeout=10)
    entries = response.json()["data"]["topMovies"]["entries"]
    return str(entries[0]["movie"]["id"]) if entries else "m-0001"


def raw_requests(
    base_url: str, bodies: list[bytes], key: str | None, paths: Sequence[str] = ("/graphql",)
) -> list[bytes]:
    """Ready HTTP/1.1 POSTs of `bodies` to `paths` (in turn), sent by `key` (None: anonymously)."""
    host = urlsplit(base_url).netloc
    authorization = f"Authorization: Bearer {key}\r\n" if key else ""
    return [
        (
            f"POST {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{authorization}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for i, body in enumerate(bodies)
    ]


def graphql_ok(head: bytes, body: bytes) -> bool:
    # A GraphQL error still answers 200; the top-level "errors" key is what marks it.
    return head.startswith(b"HTTP/1.1 200") and b'"errors"' not in body


async def level(
    base_url: str,
    requests: list[bytes],
    clients: int,
    seconds: float,
    accept: Callable[[bytes, bytes], bool] = graphql_ok,
    meters: Mapping[str, Callable[[], float]] | None = None,
) -> dict[str, Any]:
    """Closed-loop clients sending `requests` in turn for `seconds` after a warm-up; `accept(head, body)`
    says whether a response succeeded (and sees every response, warm-up included). Failed responses are
    counted beside the figures, never in them: an error answered fast would flatter req/s and p99. Each of
    `meters` (CPU seconds used so far) is read as the measured seconds start and end: `<name>_cpu_us/req`."""
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
            head, body = await read_response(reader)
            done = time.perf_counter()
            ok = accept(head, body)
            if now >= measure_from:
                if ok:
                    latencies.append(done - now)
                else:
                    errors[0] += 1
        writer.close()

    async def meter() -> dict[str, float]:
        await asyncio.sleep(measure_from - time.perf_counter())
        before = {name: read() for name, read in (meters or {}).items()}
        await asyncio.sleep(stop_at - time.perf_counter())
        return {name: read() - before[name] for name, read in (meters or {}).items()}

    *_, used = await asyncio.gather(*(client(i) for i in range(clients)), meter())
    assert isinstance(used, dict)  # meter's
    latencies.sort()
    answered = len(latencies) + errors[0]
    return {
        "clients": clients,
        "requests": answered,
        "errors": errors[0],
        # Of the successful responses only; None when none succeeded.
        "req/s": round(len(latencies) / seconds),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
        **{f"{name}_cpu_us/req": round(s * 1e6 / answered) if answered else None for name, s in used.items()},
    }


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The head and body of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return head, await reader.readexactly(length)


def measure(
    base_url: str,
    requests: list[bytes],
    clients: int,
    seconds: float,
    server: int | None,
    accept: Callable[[bytes, bytes], bool] = graphql_ok,
) -> dict[str, Any]:
    """One level (`level`), with the CPU per request of the `server` process tree (None: not measured) and of
    this process, the client, which shares the machine's cores with it."""
    pids = cpu.tree(server)
    meters = {"client": cpu.own_seconds, **({"server": lambda: cpu.seconds(pids)} if pids else {})}
    return uvloop.run(level(base_url, requests, clients, seconds, accept, meters))


def http_ok(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200")

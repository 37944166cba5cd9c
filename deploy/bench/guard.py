"""`movieviews bench guard`: what keys, rate limits and cost limits cost, and what an attack costs others.

Against a running API (default: the stack's), with clients like any other (keys of their own):
- recordView req/s and p50/p99 at N closed-loop clients, each request with a key. With `--baseline-url`
  pointing at an API without the guard (a checkout from before keys and limits), the same load
  there too, in the same run: keys on vs off.
- topMovies/movie(id) readers at N clients, alone and then while one attacker sends the 1,000-alias
  `topMovies(limit: 100)` query back to back (49 KB: within the body limit, so the parser's token limit
  refuses it): the readers' p99 both ways, and how fast the attack is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop

from deploy.bench import report
from deploy.bench.read import MOVIE, TOP, level, raw_requests, read_response
from deploy.settings import Settings
from readmodel import apikeys

RECORD = "mutation View($id: ID!) { recordView(movieId: $id) { eventId } }"
ATTACK = "{" + " ".join(f"a{i}: topMovies(limit: 100) {{ entries {{ rank }} }}" for i in range(1000)) + "}"
BENCH_MOVIE = "bench-guard"
KEY_RATE = 10_000_000
# The attack query is over the parser's token limit: every copy must be refused.
TARGETS = (report.Target("attack refused, %", 100.0),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (default: settings api_url)")
    parser.add_argument("--baseline-url", help="an API without keys and limits, for the keys-off figures")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per figure")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report.publish(
        settings,
        bench_guard(settings, args.url or settings.api_url, args.baseline_url, args.clients, args.seconds),
    )
    return 0


def bench_guard(
    settings: Settings, url: str, baseline_url: str | None, clients: int, seconds: float
) -> report.Result:
    """Rows: recordView (keys on, and off against `baseline_url`), reads alone and under attack; figures: the
    attack's 1,000-alias queries sent and refused, their p50/p99 and the refusal's message."""
    key = apikeys.create(
        settings.owner_dsn, settings.api_key_pepper, "bench-guard", ["views:write"], KEY_RATE
    )
    try:
        record = raw_requests(url, [orjson.dumps({"query": RECORD, "variables": {"id": BENCH_MOVIE}})], key)
        rows = [{"figure": "recordView, keys on", **uvloop.run(level(url, record, clients, seconds))}]
        if baseline_url:
            off = raw_requests(
                baseline_url, [orjson.dumps({"query": RECORD, "variables": {"id": BENCH_MOVIE}})], None
            )
            rows.append(
                {"figure": "recordView, keys off", **uvloop.run(level(baseline_url, off, clients, seconds))}
            )
        reads = raw_requests(
            url,
            [
                orjson.dumps({"query": TOP, "variables": {"limit": 10}}),
                orjson.dumps({"query": MOVIE, "variables": {"id": BENCH_MOVIE}}),
            ],
            key,
        )
        rows.append({"figure": "reads", **uvloop.run(level(url, reads, clients, seconds))})
        under_attack, attack = uvloop.run(_reads_under_attack(url, reads, key, clients, seconds))
        rows.append({"figure": "reads, under attack", **under_attack})
    finally:
        apikeys.revoke(settings.owner_dsn, apikeys.key_id(key))
    parameters = {"url": url, "baseline_url": baseline_url, "clients": clients, "seconds": seconds}
    refused = {"attack refused, %": attack["refused"] / attack["sent"] * 100 if attack["sent"] else None}
    figures = {"attack": attack, "targets": report.against(TARGETS, refused)}
    return report.Result("guard", parameters, _rounded(rows), figures)


async def _reads_under_attack(
    url: str, reads: list[bytes], key: str, clients: int, seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    attack = raw_requests(url, [orjson.dumps({"query": ATTACK})], key)[0]
    stop = asyncio.Event()
    latencies: list[float] = []
    messages: list[str] = []

    async def attacker() -> None:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        while not stop.is_set():
            started = time.perf_counter()
            writer.write(attack)
            _, body = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            errors = orjson.loads(body).get("errors") or [{}]
            messages.append(str(errors[0].get("message", "")))
        writer.close()

    task = asyncio.create_task(attacker())
    try:
        readers = await level(url, reads, clients, seconds)
    finally:
        stop.set()
        await task
    latencies.sort()
    refused = sum(1 for m in messages if m)
    summary = {
        "sent": len(latencies),
        "refused": refused,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "message": messages[0] if messages else "",
    }
    return readers, summary


def _rounded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items() if k != "clients"}
        for row in rows
    ]

"""Benchmarks print each figure an issue set a target for beside the target and whether it was met; failed
requests are counted beside the figures, never in them, and leave a target missed."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from deploy.bench import report
from deploy.bench.read import level, raw_requests, read_response
from deploy.bench.report import Target, against


def test_each_measured_target_shows_the_figure_the_bound_and_whether_it_was_met() -> None:
    targets = (
        Target("events/s", 80_000),
        Target("p99_ms at 50", 5.0, at_most=True),
        Target("events/s over 100,000 movies", 60_000),
    )
    verdicts = against(targets, {"events/s": 77_048.4, "p99_ms at 50": 4.2, "p99_ms at 10": 9.0})
    assert verdicts == {
        "events/s": "77,048 (target >= 80,000: missed)",
        "p99_ms at 50": "4.20 (target <= 5.00: met)",
    }


def test_a_target_with_failed_requests_behind_its_figure_is_missed_naming_them() -> None:
    targets = (Target("p99_ms at 50", 5.0, at_most=True), Target("req/s at 50", 100))
    verdicts = against(
        targets, {"p99_ms at 50": 4.2, "req/s at 50": None}, {"p99_ms at 50": 3, "req/s at 50": 1_200}
    )
    assert verdicts == {
        "p99_ms at 50": "4.20 (target <= 5.00: missed, 3 errors)",
        "req/s at 50": "- (target >= 100: missed, 1,200 errors)",
    }


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A GraphQL-like server: a request whose body holds "fail" gets a 200 with top-level errors."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            _, body = await read_response(reader)
            answer = b'{"errors":[{"message":"no"}]}' if b"fail" in body else b'{"data":{}}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
            await writer.drain()
    writer.close()


async def _level_against_answer(bodies: list[bytes]) -> dict[str, Any]:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        return await level(base, raw_requests(base, bodies, None), clients=2, seconds=0.5)
    finally:
        server.close()


def test_failed_responses_are_counted_beside_the_figures_and_left_out_of_them() -> None:
    mixed = asyncio.run(_level_against_answer([b'{"q":"ok"}', b'{"q":"fail"}']))
    assert mixed["errors"] > 0 and mixed["requests"] > mixed["errors"]
    assert mixed["req/s"] == round((mixed["requests"] - mixed["errors"]) / 0.5)
    failing = asyncio.run(_level_against_answer([b'{"q":"fail"}']))
    assert failing["errors"] == failing["requests"] > 0
    assert (failing["req/s"], failing["p50_ms"], failing["p99_ms"]) == (0, None, None)


def test_runs_alternate_with_the_ceiling_and_merge_to_medians_with_their_spread_and_summed_errors() -> None:
    order: list[str] = []
    figures = iter([300, 100, 200])

    def figure() -> list[report.Row]:
        order.append("figure")
        return [{"clients": 50, "errors": 1, "req/s": next(figures), "p99_ms": 4.0}]

    def ceiling() -> list[report.Row]:
        order.append("ceiling")
        return [{"clients": 50, "errors": 0, "req/s": 400, "p99_ms": 2.0}]

    figure_runs, ceiling_runs = report.alternating(3, figure, ceiling)
    assert order == ["figure", "ceiling"] * 3
    rows = report.beside(
        report.merged(figure_runs, ["clients"]),
        report.merged(ceiling_runs, ["clients"]),
        "clients",
        "bare",
        columns=("req/s", "p99_ms"),
    )
    assert rows == [
        {
            "clients": 50,
            "errors": 3,
            "req/s": 200,
            "req/s range": [100, 300],
            "p99_ms": 4.0,
            "p99_ms range": [4.0, 4.0],
            "bare req/s": 400,
            "bare p99_ms": 2.0,
            "x bare": 0.5,
        }
    ]
    assert report.table(rows).splitlines()[1].split()[3] == "100-300"

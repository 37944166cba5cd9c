"""`movieviews produce`: the load generator (`ingest.loadgen`) with a progress bar and a ground-truth file."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from deploy.errors import UsageError
from deploy.settings import Settings
from ingest.loadgen import Progress, generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--events", type=int, help="send this many events as fast as possible")
    amount.add_argument("--rate", type=float, help="events per second (with --seconds)")
    parser.add_argument("--seconds", type=float, help="how long to send at --rate")
    parser.add_argument("--movies", type=int, default=1000, help="number of movies (default 1000)")
    parser.add_argument("--v2-share", type=float, default=0.0, help="share of events written as v2 (0..1)")
    parser.add_argument("--zipf", type=float, default=1.1, help="popularity exponent s: weight 1/rank^s")
    parser.add_argument("--topic", help="target topic (default: the views topic)")
    parser.add_argument(
        "--truth", type=Path, help="ground-truth file (default: <home>/truth/produce-<utc>.json)"
    )
    parser.add_argument("--movie-prefix", default="m-", help="movie id prefix (default m-)")
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable popularity draw")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.rate is not None and args.seconds is None:
        raise UsageError("--rate needs --seconds")
    if not 0.0 <= args.v2_share <= 1.0 or args.movies < 1:
        raise UsageError("--v2-share must be in 0..1 and --movies at least 1")
    result = generate(
        settings,
        events=args.events,
        rate=args.rate,
        seconds=args.seconds,
        movies=args.movies,
        v2_share=args.v2_share,
        zipf=args.zipf,
        topic=args.topic,
        movie_prefix=args.movie_prefix,
        seed=args.seed,
        on_progress=ProgressBar(),
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    truth = result.write_truth(args.truth or settings.home / "truth" / f"produce-{stamp}.json")
    print(result.summary())
    print(f"ground truth: {truth}")
    return 0 if result.failed == 0 else 1


class ProgressBar:
    """One self-overwriting line on a terminal; a line every few seconds otherwise, so logs stay readable."""

    WIDTH = 30
    LOG_EVERY_S = 5.0

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last_line = -self.LOG_EVERY_S

    def __call__(self, p: Progress) -> None:
        if not self._tty and p.elapsed_s - self._last_line < self.LOG_EVERY_S and not p.final:
            return
        self._last_line = p.elapsed_s
        filled = int(self.WIDTH * p.sent / p.total) if p.total else self.WIDTH
        rate = p.acknowledged / p.elapsed_s if p.elapsed_s else 0.0
        line = (
            f"[{'█' * filled}{'·' * (self.WIDTH - filled)}] {p.sent:,}/{p.total:,} sent  "
            f"{p.acknowledged:,} acked  {p.failed:,} failed  {rate:,.0f}/s"
        )
        end = "\n" if not self._tty or p.final else ""
        print(f"\r{line}" if self._tty else line, end=end, file=sys.stderr, flush=True)

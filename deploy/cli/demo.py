"""The newcomer's tour: register movies, record views through GraphQL, watch topMovies move."""

from __future__ import annotations

import argparse
import random

from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.system import ensure_demo_key
from deploy.wait import wait_until
from readmodel.client import GraphQLClient

MOVIES = [
    ("Metropolis", 1927, "sci-fi"),
    ("Casablanca", 1942, "drama"),
    ("Alien", 1979, "sci-fi"),
    ("Amelie", 2001, "comedy"),
    ("Parasite", 2019, "thriller"),
]
# Freshness is about a second end to end; the deadline leaves room for a cold job's first checkpoint.
VISIBLE_TIMEOUT_S = 60
ROUNDS, VIEWS = 3, 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="bursts of views to record")
    parser.add_argument("--views", type=int, default=VIEWS, help="views per burst")
    parser.set_defaults(run=run)


def _print_top(page: dict[str, object], titles: dict[str, str]) -> None:
    print(f"  topMovies (asOf {page['asOf']}):")
    for entry in page["entries"]:  # type: ignore[attr-defined]
        movie = entry["movie"]
        if movie["id"] in titles:
            print(f"    #{entry['rank']:<3} {titles[movie['id']]:<12} {entry['viewCount']:>6} views")


def run(args: argparse.Namespace, settings: Settings) -> int:
    tour(settings, args.rounds, args.views)
    return 0


def tour(settings: Settings, rounds: int = ROUNDS, views: int = VIEWS) -> None:
    rng = random.Random(7)
    with GraphQLClient(settings.api_url, ensure_demo_key(settings, StatePaths(settings.home))) as client:
        ids = {client.register_movie(title, year, genre): title for title, year, genre in MOVIES}
        print(f"registered {len(ids)} movies through registerMovie")
        expected = dict.fromkeys(ids, 0)
        for round_no in range(1, rounds + 1):
            for movie_id in rng.choices(list(ids), weights=[5, 4, 3, 2, 1], k=views):
                client.record_view(movie_id)
                expected[movie_id] += 1
            print(f"round {round_no}: recorded {views} views through recordView")
            wait_until(
                lambda: all(client.view_count(m) == n for m, n in expected.items()),
                VISIBLE_TIMEOUT_S,
                "the recorded views in topMovies",
            )
            _print_top(client.top_movies(100), ids)
    print(f"GraphiQL: {settings.api_url}/graphql    Flink UI: {settings.flink_rest}")

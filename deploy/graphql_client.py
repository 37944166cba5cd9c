"""A small GraphQL-over-HTTP client for the demo and the drills: what an application would send."""

from __future__ import annotations

from typing import Any

import httpx

from deploy.errors import DeployError

TOP_MOVIES = """query Top($limit: Int!) {
  topMovies(limit: $limit) { asOf entries { rank viewCount movie { id title genre } } }
}"""
RECORD_VIEW = """mutation View($id: ID!, $eventId: ID) {
  recordView(movieId: $id, eventId: $eventId) { eventId acceptedAt }
}"""
REGISTER_MOVIE = """mutation Register($title: String!, $year: Int!, $genre: String!) {
  registerMovie(title: $title, year: $year, genre: $genre) { movieId }
}"""
MOVIE = "query Movie($id: ID!) { movie(id: $id) { id viewCount } }"


class GraphQLClientError(DeployError):
    pass


class GraphQLClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, headers=headers)

    def __enter__(self) -> GraphQLClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self._http.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise GraphQLClientError(f"GraphQL error: {body['errors'][0].get('message')}")
        data: dict[str, Any] = body["data"]
        return data

    def top_movies(self, limit: int) -> dict[str, Any]:
        page: dict[str, Any] = self.execute(TOP_MOVIES, limit=limit)["topMovies"]
        return page

    def record_view(self, movie_id: str, event_id: str | None = None) -> str:
        """`event_id`: the client's own id, so a retry counts once; the server makes one when None."""
        return str(self.execute(RECORD_VIEW, id=movie_id, eventId=event_id)["recordView"]["eventId"])

    def register_movie(self, title: str, year: int, genre: str) -> str:
        return str(
            self.execute(REGISTER_MOVIE, title=title, year=year, genre=genre)["registerMovie"]["movieId"]
        )

    def view_count(self, movie_id: str) -> int | None:
        response = self._http.post("/graphql", json={"query": MOVIE, "variables": {"id": movie_id}})
        movie = (response.json().get("data") or {}).get("movie")
        return int(movie["viewCount"]) if movie else None

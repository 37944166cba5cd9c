"""Prometheus' health in `status`: unhealthy while a scrape target is down, naming it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from deploy.prometheus import server
from deploy.settings import Settings

Serve = Callable[[list[tuple[str, str, str]]], Settings]


@pytest.fixture
def prometheus_answering(tmp_path: Path) -> Iterator[Serve]:
    """Serves /api/v1/targets with the given (job, instance, health) targets on a free port; the settings
    pointing at it (a state dir with no supervisor)."""
    answer: dict[str, object] = {}

    class Targets(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "success", "data": answer}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Targets)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def serve(found: list[tuple[str, str, str]]) -> Settings:
        answer["activeTargets"] = [
            {"labels": {"job": job, "instance": instance}, "health": health}
            for job, instance, health in found
        ]
        return Settings.from_env(
            {"MOVIEVIEWS_PROMETHEUS_PORT": str(httpd.server_address[1]), "MOVIEVIEWS_HOME": str(tmp_path)}
        )

    yield serve
    httpd.shutdown()
    httpd.server_close()


UP = [("flink-jobmanager", "127.0.0.1:9249", "up"), ("prometheus", "127.0.0.1:9090", "up")]


def test_every_target_up_is_healthy(prometheus_answering: Serve) -> None:
    assert server.healthy(prometheus_answering(UP)) == (True, "GET /api/v1/targets: 2/2 targets up")


def test_a_target_down_makes_it_unhealthy_naming_the_target(prometheus_answering: Serve) -> None:
    settings = prometheus_answering([*UP, ("flink-taskmanager", "127.0.0.1:9250", "down")])
    assert server.healthy(settings) == (
        False,
        "GET /api/v1/targets: 2/3 targets up; down: flink-taskmanager at 127.0.0.1:9250",
    )
    assert server.answering(settings) == (True, "GET /api/v1/targets: 3 targets")


def test_a_target_not_scraped_yet_is_not_down(prometheus_answering: Serve) -> None:
    settings = prometheus_answering([*UP, ("api", "127.0.0.1:8000", "unknown")])
    assert server.healthy(settings) == (True, "GET /api/v1/targets: 3/3 targets up")


def test_the_target_of_a_program_stopped_on_purpose_is_named_but_not_counted(
    prometheus_answering: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = prometheus_answering([*UP, ("api", "127.0.0.1:8000", "down")])
    monkeypatch.setattr(server, "_stopped_programs", lambda _settings: {"api"})
    assert server.healthy(settings) == (
        True,
        "GET /api/v1/targets: 2/3 targets up; not started: api at 127.0.0.1:8000",
    )


def test_no_answer_is_unhealthy_naming_the_url() -> None:
    settings = Settings.from_env({"MOVIEVIEWS_PROMETHEUS_PORT": "4"})
    ok, detail = server.healthy(settings)
    assert not ok and detail.startswith("GET http://127.0.0.1:4/api/v1/targets failed: ")
    assert server.answering(settings)[0] is False

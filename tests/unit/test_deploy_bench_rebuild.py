import threading

import pytest

from deploy.bench import rebuild
from deploy.settings import Settings
from stream import flinkrest
from stream.errors import FlinkRestError


def test_restarts_beside_a_rebuild_count_from_the_first_reading_and_an_ended_job_keeps_its_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = threading.Event()
    readings: dict[str, list[int | None]] = {"live": [2, 2, 3, 3], "replaced": [0, 1, None, None]}
    calls = {"live": 0, "replaced": 0}

    def job_metrics(settings: Settings, job_id: str, names: list[str]) -> dict[str, float]:
        n = calls[job_id]
        calls[job_id] += 1
        if n + 1 == len(readings[job_id]) and job_id == "live":
            done.set()
        value = readings[job_id][n]
        if value is None:
            raise FlinkRestError(f"GET /jobs/{job_id}/metrics failed: 404")
        return {"numRestarts": float(value)}

    monkeypatch.setattr(flinkrest, "job_metrics", job_metrics)
    monkeypatch.setattr(rebuild, "RESTARTS_POLL_S", 0.0)

    assert rebuild.restarts_while(Settings.from_env({}), ["live", "replaced"], done) == {
        "live": 1,
        "replaced": 1,
    }

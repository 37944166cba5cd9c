"""The API's watch on its live job (readmodel.pipeline.JobWatch) over Flink's REST API, handed to the app by
`movieviews serve`: the read model asks Flink nothing itself."""

from __future__ import annotations

from deploy.settings import Settings
from readmodel import versions
from readmodel.cache import asyncpg_dsn
from readmodel.pipeline import JobFigures
from stream import flinkrest
from stream.errors import FlinkRestError


class FlinkJobWatch:
    """The live job of `job_name` (`flinkrest.live`: `movieviews`, or `movieviews-v2` once a rebuild switched
    readers to slot 2)."""

    def __init__(self, settings: Settings, job_name: str) -> None:
        self._settings = settings
        self._job_name = job_name
        # The slot readers read, asked only while a rebuild's job runs beside the live one.
        self._reader_dsn = asyncpg_dsn(settings.reader_url)

    def live(self) -> JobFigures | None:
        try:
            live = flinkrest.live(self._settings, self._job_name, self._current_slot)
            if live is None:
                return None
            completed = flinkrest.last_completed(flinkrest.checkpoints(self._settings, live.job_id))
            letters = flinkrest.dead_letters(self._settings, live.job_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise FlinkRestError(f"unexpected answer from Flink's REST API: {exc!r}") from exc
        age = None if completed is None else completed.age_s
        return JobFigures(live.name, live.state, age, letters)

    def _current_slot(self) -> int:
        return versions.current_slot(self._reader_dsn)

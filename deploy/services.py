"""Who runs Kafka, Flink and Postgres: the project, under its supervisor (MOVIEVIEWS_MANAGED=on), or a team
that brings its own (off, `deploy.foreign`). This is the one switch between the two: every command that
starts, stops or watches a process, or submits a job to Flink, asks `of(settings)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from deploy import foreign, procs, stack, supervisor
from deploy.flink import standalone
from deploy.jars import connector_jars, ensure_jars, ensure_web_assets, python_sources
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.stack import API, Health

Say = Callable[[str], None]


@dataclass(frozen=True)
class Shipment:
    """What a submitted job carries to Flink beyond its own jar: jars (shipped through the blob server
    as `pipeline.jars`) and Python files (`flink run -pyfs`: on the workers' PYTHONPATH)."""

    jars: list[Path] = field(default_factory=list)
    python: list[Path] = field(default_factory=list)


class Services(Protocol):
    # Whether the project runs the services' processes: drills that kill one need it.
    owns_processes: bool

    def up(self, settings: Settings, paths: StatePaths, say: Say) -> None: ...

    def down(self, settings: Settings, paths: StatePaths, say: Say) -> None: ...

    def status(self, settings: Settings) -> list[Health]: ...

    def processes(self, paths: StatePaths) -> Health: ...

    def start_api(self, settings: Settings, paths: StatePaths) -> Callable[[], None]:
        """Starts the API unless it runs; returns the check that raises once it has died."""
        ...

    def shipment(self, paths: StatePaths) -> Shipment: ...


class Managed:
    """The stack on this machine (`deploy.stack`): its Flink lib dir holds the connector jars and its
    workers import the project from this checkout, so a job ships only its own jar."""

    owns_processes = True

    def up(self, settings: Settings, paths: StatePaths, say: Say) -> None:
        stack.up(settings, paths, say)

    def down(self, settings: Settings, paths: StatePaths, say: Say) -> None:
        stack.down(settings, paths, say)

    def status(self, settings: Settings) -> list[Health]:
        return stack.status(settings)

    def processes(self, paths: StatePaths) -> Health:
        return stack.supervision(paths)

    def start_api(self, settings: Settings, paths: StatePaths) -> Callable[[], None]:
        supervisor.start(paths, API)

        def alive() -> None:
            if supervisor.state(paths, API) == "FATAL":
                raise procs.died("the API", paths.log_file(API))

        return alive

    def shipment(self, paths: StatePaths) -> Shipment:
        return Shipment()


class Foreign:
    """A team's Kafka, Flink and Postgres (`deploy.foreign`): checked, never started or stopped. Their
    JobManager has none of the project's jars or Python code, so every job ships them."""

    owns_processes = False

    def up(self, settings: Settings, paths: StatePaths, say: Say) -> None:
        stack.require_tools()
        # The connector jars and the job's own jar to ship, `flink run`'s conf and lib dirs (the client's
        # only: no JobManager or TaskManager runs from them), the API's browser assets.
        ensure_jars(paths, broker=False)
        ensure_web_assets(paths)
        standalone.prepare(settings, paths)
        foreign.check(settings, say)

    def down(self, settings: Settings, paths: StatePaths, say: Say) -> None:
        foreign.stop_api(paths, say)

    def status(self, settings: Settings) -> list[Health]:
        return foreign.status(settings)

    def processes(self, paths: StatePaths) -> Health:
        return foreign.processes(paths)

    def start_api(self, settings: Settings, paths: StatePaths) -> Callable[[], None]:
        return foreign.start_api(settings, paths)

    def shipment(self, paths: StatePaths) -> Shipment:
        return Shipment(connector_jars(paths), [python_sources(paths)])


def of(settings: Settings) -> Services:
    return Managed() if settings.managed else Foreign()

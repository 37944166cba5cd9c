"""The real stack on one machine: which components exist, how each is started, checked and stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import postgres, procs
from deploy.errors import MissingToolError
from deploy.flink import cluster
from deploy.jars import ensure_jars, ensure_web_assets
from deploy.kafka import broker
from deploy.paths import StatePaths
from deploy.prometheus import server as prometheus
from deploy.settings import Settings
from deploy.wait import wait_until

Check = Callable[[Settings], tuple[bool, str]]


@dataclass(frozen=True)
class Health:
    component: str
    ok: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


CHECKS: dict[str, Check] = {
    "kafka": broker.healthy,
    "flink": cluster.healthy,
    "postgres": postgres.healthy,
    "prometheus": prometheus.healthy,
}
# Processes started by pid file, in the order `down` stops them (Postgres stops through pg_ctl).
PROCESSES = (prometheus.COMPONENT, "api", cluster.TASKMANAGER, cluster.JOBMANAGER, broker.COMPONENT)


def require_tools() -> None:
    for tool, hint in (
        ("java", "install Java 17: apt-get install -y openjdk-17-jdk-headless"),
        ("mvn", "install Maven: apt-get install -y maven"),
    ):
        if not shutil.which(tool):
            raise MissingToolError(f"{tool} is missing: {hint}")


def _await(component: str, settings: Settings, paths: StatePaths, pid_file_component: str | None) -> float:
    """Polls the component's health check; if its process exits meanwhile, reports it with its log."""
    check = CHECKS[component]

    def ready() -> bool:
        if pid_file_component and not procs.read_pid(paths.pid_file(pid_file_component)):
            raise procs.died(component, paths.log_file(pid_file_component))
        return check(settings)[0]

    return wait_until(ready, 120, component)


def up(settings: Settings, paths: StatePaths, say: Callable[[str], None]) -> dict[str, float]:
    """Starts whatever is not running; returns seconds per step. Safe to run twice."""
    require_tools()
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    ensure_jars(paths)
    ensure_web_assets(paths)
    timings["jars"] = time.monotonic() - t0
    say(f"jars ready ({timings['jars']:.1f}s)")

    t0 = time.monotonic()
    postgres.start(settings, paths)
    postgres.ensure_roles_and_database(settings)
    timings["postgres"] = time.monotonic() - t0
    say(f"postgres ready on {settings.pg_host}:{settings.pg_port} ({timings['postgres']:.1f}s)")

    # Kafka and Flink start in parallel: both are JVMs that spend their first seconds loading classes.
    t0 = time.monotonic()
    broker.start(settings, paths)
    cluster.start_jobmanager(settings, paths)
    cluster.start_taskmanager(settings, paths)
    _await("kafka", settings, paths, broker.COMPONENT)
    for fix in broker.ensure_topics(settings, broker.topics(settings)):
        say(f"corrected topic configuration: {fix}")
    timings["kafka"] = time.monotonic() - t0
    say(f"kafka ready on {settings.kafka_bootstrap}, topics made ({timings['kafka']:.1f}s)")
    _await("flink", settings, paths, cluster.JOBMANAGER)
    timings["flink"] = time.monotonic() - t0
    say(f"flink ready at {settings.flink_rest} ({timings['flink']:.1f}s)")
    if settings.prometheus:
        t0 = time.monotonic()
        prometheus.start(settings, paths)
        _await("prometheus", settings, paths, prometheus.COMPONENT)
        timings["prometheus"] = time.monotonic() - t0
        say(f"prometheus ready at {settings.prometheus_url} ({timings['prometheus']:.1f}s)")
    return timings


def down(paths: StatePaths, say: Callable[[str], None]) -> None:
    for component in PROCESSES:
        pid = procs.read_pid(paths.pid_file(component))
        if pid:
            procs.stop(pid)
            say(f"stopped {component} (pid {pid})")
        paths.pid_file(component).unlink(missing_ok=True)
    if postgres.stop(paths):
        say("stopped postgres")


def any_running(paths: StatePaths) -> bool:
    """Whether any process of the stack runs, healthy or not (a drill may have one down on purpose)."""
    return any(procs.read_pid(paths.pid_file(c)) for c in PROCESSES) or postgres.pid(paths) is not None


def status(settings: Settings) -> list[Health]:
    """The stack's components, Prometheus only when `up` starts it, and the event topics' retention."""
    checks = {n: c for n, c in CHECKS.items() if settings.prometheus or n != "prometheus"}
    results = [Health(name, *check(settings)) for name, check in checks.items()]
    if results[0].ok:  # the topics' retention can only be read from a running broker
        results.insert(1, Health("retention", *broker.retention(settings)))
    return results


def disk_usage(paths: StatePaths) -> dict[str, int]:
    """Bytes under each component's state directory (what scratch topics, databases and checkpoints fill)."""
    dirs = {
        "kafka": paths.kafka / "data",
        "postgres": paths.postgres,
        "checkpoints": paths.checkpoints,
        "savepoints": paths.savepoints,
        "logs": paths.logs,
    }
    return {name: _bytes_under(path) for name, path in dirs.items()}


def _bytes_under(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # a segment or checkpoint deleted while walking
                total += (Path(dirpath) / name).lstat().st_blocks * 512  # allocated, not sparse size
    return total

"""The real stack on one machine: its processes (one list, run by supervisord), how `up` starts and repairs
them, how each is checked and how `down` stops them all."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import leftovers, procs, progress, supervisor
from deploy.component import Component
from deploy.errors import DeployError, MissingToolError
from deploy.flink import standalone
from deploy.jars import ensure_jars, ensure_web_assets
from deploy.kafka import broker
from deploy.kafka import security as kafka_security
from deploy.paths import VENV_BIN, StatePaths
from deploy.postgres import postmaster
from deploy.postgres import server as postgres
from deploy.prometheus import server as prometheus
from deploy.settings import Settings, port_of
from deploy.supervisor import Program
from deploy.wait import wait_until
from deploy.zookeeper import server as zookeeper
from ingest.topics import ensure_topics
from stream import flinkrest

Check = Callable[[Settings], tuple[bool, str]]
API = "api"
# A component's start: Flink's TaskManager registers in 16-25 s on a quiet machine; Kafka recovering its logs
# after a power cut took over 120 s at load average 30.
READY_TIMEOUT_S = 300
# A port a killed process of ours still holds is free once its threads have exited: seconds, measured.
PORT_FREE_TIMEOUT_S = 30


@dataclass(frozen=True)
class Health:
    component: str
    ok: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


CHECKS: dict[str, Check] = {
    broker.COMPONENT: broker.healthy,
    standalone.COMPONENT: standalone.healthy,
    postgres.COMPONENT: postgres.healthy,
    prometheus.COMPONENT: prometheus.healthy,
}


def components(settings: Settings) -> list[Component]:
    """The stack's components in start order: ZooKeeper in the cluster profile only, Prometheus (it scrapes
    the others) only when `up` starts it, last."""
    found: list[Component] = [postgres, broker, *([zookeeper] if settings.clustered else []), standalone]
    return [*found, prometheus] if settings.prometheus else found


def programs(settings: Settings, paths: StatePaths) -> list[Program]:
    """Every long-lived process of the stack, in start order (supervisord stops them in reverse): the
    components', with the API's after those it reads and before Prometheus', which scrapes it. The cluster
    profile adds Kafka nodes, ZooKeeper, a standby JobManager and a TaskManager."""
    found = [p for c in components(settings) if c is not prometheus for p in c.programs(settings, paths)]
    found.append(api_program(settings, paths))
    return [*found, *prometheus.programs(settings, paths)] if settings.prometheus else found


def api_program(settings: Settings, paths: StatePaths) -> Program:
    # The settings travel in its environment: the API is whatever stack `up` last configured.
    return Program(API, [str(VENV_BIN / "movieviews"), "serve"], paths.api, settings.to_env())


def require_tools() -> None:
    for tool, hint in (
        ("java", "install Java 17: apt-get install -y openjdk-17-jdk-headless"),
        ("javac", "install a Java 17 JDK (for the job's jar): apt-get install -y openjdk-17-jdk-headless"),
        ("mvn", "install Maven: apt-get install -y maven"),
    ):
        if not shutil.which(tool):
            raise MissingToolError(f"{tool} is missing: {hint}")


def repair(settings: Settings, paths: StatePaths) -> list[str]:
    """With no supervisor running, whatever of the stack still runs or holds its files is a crash's leftover:
    it is stopped (a live postmaster with a fast shutdown), then Postgres' orphans and stale lock file are
    cleared. Returns one line per repair made."""
    if supervisor.pid(paths) is not None:
        return []
    repairs = []
    folders = [program.cwd for program in programs(settings, paths) if program.name != postgres.COMPONENT]
    found = leftovers.find(folders)
    if found:
        leftovers.clear(found)
        left = leftovers.describe(found)
        repairs.append(f"stopped {len(found)} process(es) a crashed stack left running: {left}")
    data = postgres.data_dir(paths)
    serving = postmaster.serving(data)
    if serving is not None:
        leftovers.clear([leftovers.Leftover(serving, "postgres", data)], signal.SIGINT)
        repairs.append(f"stopped the postmaster (pid {serving}) a crashed supervisor left running")
    repairs += postmaster.clear_leftovers(data)
    return repairs


def _ready(component: str, program: str, settings: Settings, paths: StatePaths, check: Check) -> float:
    """Polls the component's health check; if supervisord gave up on its program, reports it with its log."""

    def ready() -> bool:
        if supervisor.state(paths, program) == "FATAL":
            raise procs.died(component, paths.log_file(program))
        return check(settings)[0]

    with progress.working(f"waiting for {component}", say=lambda _line: None):
        return wait_until(ready, READY_TIMEOUT_S, component)


def _start(paths: StatePaths, name: str, ports: dict[int, str], say: Callable[[str], None]) -> None:
    """Starts a stopped program once its ports are free: a killed JVM holds them until its last thread
    exits (seconds); a port taken by anything else is named."""
    if supervisor.state(paths, name) in supervisor.UP_STATES:
        return
    for port, what in ports.items():
        waited = procs.wait_port_free(port, what, PORT_FREE_TIMEOUT_S)
        if waited > 0:
            say(f"repaired: port {port} of {what} was still held; free after {waited:.1f}s")
    supervisor.start(paths, name)


def up(settings: Settings, paths: StatePaths, say: Callable[[str], None]) -> dict[str, float]:
    """Repairs what a crash left, then starts whatever is not running; returns seconds per step."""
    require_tools()
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    ensure_jars(paths, zookeeper=settings.clustered)
    ensure_web_assets(paths)
    timings["jars"] = time.monotonic() - t0
    say(f"jars ready ({timings['jars']:.1f}s)")

    for line in repair(settings, paths):
        say(f"repaired: {line}")
    for component in components(settings):
        component.prepare(settings, paths)
    started = supervisor.ensure_running(programs(settings, paths), paths)
    if started:
        say(f"supervisor started (pid {started}); it restarts any process of the stack that dies")

    t0 = time.monotonic()
    _start(paths, postgres.COMPONENT, {settings.pg_port: "PostgreSQL"}, say)
    _ready("postgres", postgres.COMPONENT, settings, paths, postgres.accepting)
    postgres.ensure_roles_and_database(settings)
    timings["postgres"] = time.monotonic() - t0
    say(f"postgres ready on {settings.pg_host}:{settings.pg_port} ({timings['postgres']:.1f}s)")

    # Kafka and Flink start in parallel: both are JVMs that spend their first seconds loading classes.
    t0 = time.monotonic()
    for node in broker.nodes(settings):
        _start(paths, node.program, node.ports(), say)
    if settings.clustered:
        # The JobManagers elect their leader in ZooKeeper: it comes first.
        _start(paths, zookeeper.COMPONENT, {port_of(zookeeper.server(settings)): "ZooKeeper"}, say)
        _ready("zookeeper", zookeeper.COMPONENT, settings, paths, zookeeper.healthy)
        say(f"zookeeper ready on {settings.zookeeper}")
    managers: list[standalone.JobManager | standalone.TaskManager] = [
        *standalone.jobmanagers(settings),
        *standalone.taskmanagers(settings),
    ]
    for manager in managers:
        _start(paths, manager.name, manager.ports(), say)
    _ready("kafka", broker.COMPONENT, settings, paths, broker.healthy)
    for fix in ensure_topics(settings.kafka_admin, broker.topics(settings), READY_TIMEOUT_S):
        say(f"corrected topic configuration: {fix}")
    kafka_security.grant(settings)
    timings["kafka"] = time.monotonic() - t0
    secured = ", SASL_SSL, ACLs granted" if settings.kafka_security else ""
    say(f"kafka ready on {settings.kafka_bootstrap}, topics made{secured} ({timings['kafka']:.1f}s)")
    _ready("flink", standalone.JOBMANAGER, settings, paths, flinkrest.healthy)
    timings["flink"] = time.monotonic() - t0
    say(f"flink ready at {settings.flink_rest} ({timings['flink']:.1f}s)")
    if settings.prometheus:
        t0 = time.monotonic()
        if supervisor.state(paths, prometheus.COMPONENT) == "RUNNING":
            supervisor.signal(paths, prometheus.COMPONENT, "HUP")  # reread the configuration just written
        _start(paths, prometheus.COMPONENT, {settings.prometheus_port: "Prometheus"}, say)
        _ready("prometheus", prometheus.COMPONENT, settings, paths, prometheus.answering)
        timings["prometheus"] = time.monotonic() - t0
        say(f"prometheus ready at {settings.prometheus_url} ({timings['prometheus']:.1f}s)")
    return timings


def down(settings: Settings, paths: StatePaths, say: Callable[[str], None]) -> None:
    """Stops every program one at a time in reverse start order, saying so as it goes, then the supervisor;
    with no supervisor, stops what a crash left running. A program that fails to stop is named and left to
    the supervisor's shutdown, which stops whatever still runs."""
    if supervisor.pid(paths) is None:
        for line in repair(settings, paths):
            say(line)
        return
    order = [program.name for program in reversed(programs(settings, paths))]
    running = [p for p in supervisor.info(paths) if p.state in supervisor.UP_STATES]
    running.sort(key=lambda p: order.index(p.name) if p.name in order else -1)
    for program in running:
        try:
            with progress.working(f"stopping {program.name} (pid {program.pid})", say=say):
                supervisor.stop(paths, program.name)
        except DeployError as exc:
            say(f"{program.name} did not stop ({exc}); the supervisor's shutdown stops it")
            continue
        say(f"stopped {program.name}")
    say(f"stopped the supervisor (pid {supervisor.shutdown(paths)})")


def any_running(settings: Settings, paths: StatePaths) -> bool:
    """Whether any process of the stack runs, healthy or not (a drill may have one down on purpose)."""
    if supervisor.pid(paths) is not None:
        return True
    folders = [program.cwd for program in programs(settings, paths)]
    return bool(leftovers.find(folders))


def supervision(paths: StatePaths) -> Health:
    """The supervisor and each program it runs, with its restarts since the supervisor started; unhealthy
    when it is not running or a program is down by a crash (FATAL: it gave up restarting it)."""
    found = supervisor.pid(paths)
    if found is None:
        return Health("supervisor", False, "not running: `deploy/movieviews up` starts it")
    programs = supervisor.info(paths)
    figures: dict[str, Any] = {
        p.name: {
            "state": p.state,
            "restarts": p.restarts,
            "detail": f"last {p.last_restart}" if p.restarts else p.description,
        }
        for p in programs
    }
    failed = [p.name for p in programs if p.state in supervisor.FAILED_STATES]
    restarts = sum(p.restarts for p in programs)
    detail = f"pid {found}, {len(programs)} programs, {restarts} restart(s) since it started"
    return Health(
        "supervisor", not failed, detail + (f"; down: {', '.join(failed)}" if failed else ""), figures
    )


def status(settings: Settings) -> list[Health]:
    """The stack's components, Prometheus only when `up` starts it, ZooKeeper only in the cluster profile,
    and the event topics' retention."""
    checks = {n: c for n, c in CHECKS.items() if settings.prometheus or n != prometheus.COMPONENT}
    if settings.clustered:
        checks[zookeeper.COMPONENT] = zookeeper.healthy
    results = [Health(name, *check(settings)) for name, check in checks.items()]
    if results[0].ok:  # the topics' retention can only be read from a running broker
        results.insert(1, Health("retention", *broker.retention(settings)))
    return results


def remove_data(settings: Settings, paths: StatePaths) -> list[Path]:
    """Deletes what a stopped stack stored (events, databases, checkpoints, HA state, pids), keeping its
    downloads and builds (jars, web assets) and its logs: the next `up` starts empty. Returns what it
    removed."""
    if any_running(settings, paths):
        raise DeployError(f"the stack under {paths.home} still runs: `deploy/movieviews down` first")
    stored = [
        paths.postgres,
        *(node.home(paths) / "data" for node in broker.nodes(settings)),
        paths.zookeeper / "data",
        paths.checkpoints,
        paths.savepoints,
        paths.flink_ha,
        paths.flink / "tmp",
        paths.run,
        paths.truth,
        paths.home / "drills",
    ]
    removed = [path for path in stored if path.exists()]
    for path in removed:
        shutil.rmtree(path)
    return removed


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

"""The Flink standalone cluster, run from the `bin/` that the apache-flink wheel ships."""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pyflink

from deploy.errors import FlinkError
from deploy.jars import connector_jars
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import REPO_ROOT, Settings
from deploy.supervisor import Program

PYFLINK_HOME = Path(pyflink.__file__).parent
FLINK_PYTHON_JAR = PYFLINK_HOME / "opt" / "flink-python-1.20.5.jar"
JOBMANAGER, TASKMANAGER = "flink-jobmanager", "flink-taskmanager"
_JAVA_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")


def site_packages() -> str:
    return next(p for p in sys.path if p.endswith("site-packages"))


def flink_vars(paths: StatePaths) -> dict[str, str]:
    """What the cluster's scripts and `flink run` need: our conf and lib dirs, the venv first."""
    return {
        "FLINK_CONF_DIR": str(paths.flink_conf),
        "FLINK_LIB_DIR": str(paths.flink_lib),
        "FLINK_LOG_DIR": str(paths.logs),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        # Thread-mode workers embed the venv's interpreter; they import pemja and the project from here.
        "PYTHONPATH": f"{site_packages()}:{REPO_ROOT}",
    }


def flink_env(paths: StatePaths) -> dict[str, str]:
    return {**os.environ, **flink_vars(paths)}


def _write_conf(settings: Settings, paths: StatePaths) -> None:
    conf = paths.flink_conf
    conf.mkdir(parents=True, exist_ok=True)
    tmp = paths.flink / "tmp"
    for folder in (tmp, paths.checkpoints, paths.savepoints, paths.run, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    for name in (
        "log4j-console.properties",
        "log4j-cli.properties",
        "log4j.properties",
        "logback-console.xml",
    ):
        shutil.copy(PYFLINK_HOME / "conf" / name, conf / name)
    template = string.Template((DEPLOY_DIR / "flink" / "config.yaml").read_text())
    (conf / "config.yaml").write_text(
        template.substitute(
            rest_port=settings.flink_rest_port,
            rpc_port=settings.flink_rpc_port,
            python=sys.executable,
            checkpoints=paths.checkpoints,
            savepoints=paths.savepoints,
            run=paths.run,
            logs=paths.logs,
            tmp=tmp,
        )
    )
    # `masters` carries the REST port and overrides rest.port; keep the two in step.
    (conf / "masters").write_text(f"127.0.0.1:{settings.flink_rest_port}\n")
    (conf / "workers").write_text("127.0.0.1\n")


def _link_lib(paths: StatePaths) -> None:
    """flink-dist's jars plus flink-python (so pemja loads once per TaskManager and a second Python job can
    run on it) plus the connector jars, so every job finds them on the cluster classpath."""
    lib = paths.flink_lib
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    for jar in [*sorted((PYFLINK_HOME / "lib").glob("*.jar")), FLINK_PYTHON_JAR, *connector_jars(paths)]:
        (lib / jar.name).symlink_to(jar)


def prepare(settings: Settings, paths: StatePaths) -> None:
    """The cluster's conf dir (ports, state dirs) and lib dir (flink-dist, flink-python, connectors)."""
    _write_conf(settings, paths)
    _link_lib(paths)


def _program(name: str, script: str, paths: StatePaths, metrics_port: int) -> Program:
    # start-foreground runs the JVM in place of the script (`exec`), so the supervised pid is Flink's own.
    # A reporter port per process: one scrape target each, and a restarted TaskManager keeps its target.
    argv = [
        "bash",
        str(PYFLINK_HOME / "bin" / script),
        "start-foreground",
        "-D",
        f"metrics.reporter.prom.port={metrics_port}",
    ]
    return Program(name, argv, paths.flink, flink_vars(paths))


def jobmanager_program(settings: Settings, paths: StatePaths) -> Program:
    return _program(JOBMANAGER, "jobmanager.sh", paths, settings.flink_jobmanager_metrics_port)


def taskmanager_program(settings: Settings, paths: StatePaths) -> Program:
    return _program(TASKMANAGER, "taskmanager.sh", paths, settings.flink_taskmanager_metrics_port)


def flink_cli(paths: StatePaths, *args: str, timeout_s: float = 300) -> str:
    """Runs pyflink's `bin/flink` against the cluster with the project's conf and lib dirs; returns stdout."""
    proc = subprocess.run(
        ["bash", str(PYFLINK_HOME / "bin" / "flink"), *args],
        env=flink_env(paths),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        # Java stack frames bury the Python traceback that says what went wrong: keep everything else.
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if not _JAVA_FRAME.match(line)]
        tail = "\n".join(lines[-40:])
        raise FlinkError(f"`flink {' '.join(args[:2])}` exited {proc.returncode}:\n{tail}")
    return proc.stdout

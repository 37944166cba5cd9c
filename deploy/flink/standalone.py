"""The Flink standalone cluster, run from the `bin/` that the apache-flink wheel ships."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import string
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pyflink
import yaml

from deploy import tls
from deploy.errors import FlinkError
from deploy.jars import connector_jars
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import REPO_ROOT, Settings, port_of
from deploy.supervisor import Program
from deploy.zookeeper import server as zookeeper
from stream import flinkrest

COMPONENT = "flink"
PYFLINK_HOME = Path(pyflink.__file__).parent
FLINK_PYTHON_JAR = PYFLINK_HOME / "opt" / "flink-python-1.20.5.jar"
JOBMANAGER, TASKMANAGER = "flink-jobmanager", "flink-taskmanager"
STANDBY_JOBMANAGER, SECOND_TASKMANAGER = f"{JOBMANAGER}-2", f"{TASKMANAGER}-2"
_JAVA_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")
REST_TLS_SUITES = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"


def site_packages() -> str:
    return next(p for p in sys.path if p.endswith("site-packages"))


def flink_vars(paths: StatePaths) -> dict[str, str]:
    """What Flink's scripts and `flink run` need: our conf and lib dirs, the venv first."""
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
    config = template.substitute(
        rest_port=settings.flink_rest_port,
        rpc_port=settings.flink_rpc_port,
        python=sys.executable,
        checkpoints=paths.checkpoints,
        savepoints=paths.savepoints,
        run=paths.run,
        logs=paths.logs,
        tmp=tmp,
    )
    if settings.clustered:
        overlay = string.Template((DEPLOY_DIR / "cluster" / "flink-config.yaml").read_text()).substitute(
            ha_storage=paths.flink_ha.as_uri(),
            zookeeper=settings.zookeeper,
            parallelism=settings.job_parallelism,
        )
        merged = _merge(yaml.safe_load(config), yaml.safe_load(overlay))
        config = yaml.safe_dump(merged, sort_keys=False, width=1000)
    if settings.flink_rest_identity:
        config = yaml.safe_dump(
            _merge(yaml.safe_load(config), _rest_tls(settings)), sort_keys=False, width=1000
        )
    (conf / "config.yaml").touch(mode=0o600)
    (conf / "config.yaml").chmod(0o600)  # it may hold the REST keystore's password
    (conf / "config.yaml").write_text(config)
    # `masters` carries the REST port and overrides rest.port; keep the two in step.
    (conf / "masters").write_text("".join(f"127.0.0.1:{port_of(j.rest)}\n" for j in jobmanagers(settings)))
    (conf / "workers").write_text("127.0.0.1\n" * len(taskmanagers(settings)))


def _rest_tls(settings: Settings) -> dict[str, object]:
    """The REST API (and web UI) over TLS with mutual authentication: a client without a certificate signed
    by the stack's CA fails the handshake. The JobManagers' identity is the one clients present too (the
    `flink` CLI presents the REST keystore), so it serves both usages. Flink's default cipher list is one RSA
    suite no EC key can serve: ECDHE-ECDSA suites instead (docs/SECURITY.md)."""
    folder = settings.flink_secrets_dir
    host = urllib.parse.urlsplit(settings.flink_rest).hostname or "127.0.0.1"
    tls.server_certificate(folder, "rest", host, usage="serverAuth,clientAuth")
    secret = folder / "store.password"
    if not secret.exists():
        secret.touch(mode=0o600)
        secret.write_text(secrets.token_urlsafe(24))
    password = secret.read_text()
    keystore, truststore = tls.java_stores(folder, "rest", password)
    stores = {"keystore": str(keystore), "truststore": str(truststore)}
    passwords = {"keystore-password": password, "key-password": password, "truststore-password": password}
    rest = {"enabled": True, "authentication-enabled": True, **stores, **passwords}
    return {"security": {"ssl": {"algorithms": REST_TLS_SUITES, "rest": rest}}}


def _merge(base: dict[str, object], overlay: dict[str, object]) -> dict[str, object]:
    """`overlay`'s values over `base`'s, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        below = merged.get(key)
        both = isinstance(below, dict) and isinstance(value, dict)
        merged[key] = _merge(below, value) if both else value  # type: ignore[arg-type]
    return merged


def _link_lib(paths: StatePaths) -> None:
    """flink-dist's jars plus flink-python (so pemja loads once per TaskManager and a second Python job can
    run on it) plus the connector jars, so every job finds them on Flink's classpath."""
    lib = paths.flink_lib
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    for jar in [*sorted((PYFLINK_HOME / "lib").glob("*.jar")), FLINK_PYTHON_JAR, *connector_jars(paths)]:
        (lib / jar.name).symlink_to(jar)


def prepare(settings: Settings, paths: StatePaths) -> None:
    """Flink's conf dir (ports, state dirs) and lib dir (flink-dist, flink-python, connectors)."""
    _write_conf(settings, paths)
    _link_lib(paths)


@dataclass(frozen=True)
class JobManager:
    name: str
    rest: str
    rpc_port: int
    metrics_port: int

    def ports(self) -> dict[int, str]:
        return {
            port_of(self.rest): f"{self.name} (REST and web UI)",
            self.rpc_port: f"{self.name} (RPC)",
            self.metrics_port: f"{self.name} (metrics)",
        }


@dataclass(frozen=True)
class TaskManager:
    name: str
    metrics_port: int

    def ports(self) -> dict[int, str]:
        return {self.metrics_port: f"{self.name} (metrics)"}


def jobmanagers(settings: Settings) -> list[JobManager]:
    """The leader-to-be first; in the cluster profile a standby that ZooKeeper elects when it dies."""
    first = JobManager(
        JOBMANAGER, settings.flink_rest, settings.flink_rpc_port, settings.flink_jobmanager_metrics_port
    )
    if not settings.clustered:
        return [first]
    standby = JobManager(
        STANDBY_JOBMANAGER,
        settings.flink_standby_rest,
        settings.flink_standby_rpc_port,
        settings.flink_standby_metrics_port,
    )
    return [first, standby]


def taskmanagers(settings: Settings) -> list[TaskManager]:
    first = TaskManager(TASKMANAGER, settings.flink_taskmanager_metrics_port)
    if not settings.clustered:
        return [first]
    return [first, TaskManager(SECOND_TASKMANAGER, settings.flink_taskmanager_2_metrics_port)]


# Up once the REST API (settings.flink_rest) answers with a TaskManager registered, as the client that
# submits and watches the jobs sees it.
healthy = flinkrest.healthy


def _program(name: str, script: str, paths: StatePaths, options: dict[str, object]) -> Program:
    # start-foreground runs the JVM in place of the script (`exec`), so the supervised pid is Flink's own.
    # Ports per process as dynamic properties: a reporter port each (one scrape target each, kept across a
    # restart) and, for JobManagers side by side, REST and RPC ports of their own. With HA the RPC port is
    # high-availability.jobmanager.port (jobmanager.rpc.port is then only the non-HA address).
    argv = ["bash", str(PYFLINK_HOME / "bin" / script), "start-foreground"]
    for key, value in options.items():
        argv += ["-D", f"{key}={value}"]
    return Program(name, argv, paths.flink, flink_vars(paths))


def programs(settings: Settings, paths: StatePaths) -> list[Program]:
    """The JobManagers, then the TaskManagers."""
    managers = [
        _program(
            jm.name,
            "jobmanager.sh",
            paths,
            {
                "metrics.reporter.prom.port": jm.metrics_port,
                "rest.port": port_of(jm.rest),
                "jobmanager.rpc.port": jm.rpc_port,
                "high-availability.jobmanager.port": jm.rpc_port,
            },
        )
        for jm in jobmanagers(settings)
    ]
    workers = [
        _program(tm.name, "taskmanager.sh", paths, {"metrics.reporter.prom.port": tm.metrics_port})
        for tm in taskmanagers(settings)
    ]
    return managers + workers


# Flink 1.20 keeps each leader's address under <root>/<cluster-id>/leader/<component>/connection_info
# (Java-serialised: the address string is readable as it is).
REST_LEADER_ZNODE = "/flink/movieviews/leader/rest_server/connection_info"
_URL = re.compile(r"https?://[\w.\-]+:(\d+)")


def leading_jobmanager(settings: Settings, paths: StatePaths) -> JobManager:
    """The JobManager ZooKeeper elected: the one whose REST address its leader znode holds."""
    data = zookeeper.read(settings, paths, REST_LEADER_ZNODE)
    match = _URL.search(data)
    if match is None:
        raise FlinkError(f"no leader address in {REST_LEADER_ZNODE}: {data[-300:]!r}")
    port = int(match.group(1))
    found = [jm for jm in jobmanagers(settings) if port_of(jm.rest) == port]
    if not found:
        raise FlinkError(f"the leader's REST port {port} is none of this stack's JobManagers")
    return found[0]


def flink_cli(paths: StatePaths, *args: str, timeout_s: float = 300) -> str:
    """Runs pyflink's `bin/flink` with the project's conf and lib dirs; returns stdout."""
    try:
        proc = subprocess.run(
            ["bash", str(PYFLINK_HOME / "bin" / "flink"), *args],
            env=flink_env(paths),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FlinkError(f"`flink {' '.join(args[:2])}` did not finish in {timeout_s:.0f}s") from exc
    if proc.returncode != 0:
        # Java stack frames bury the Python traceback that says what went wrong: keep everything else.
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if not _JAVA_FRAME.match(line)]
        tail = "\n".join(lines[-40:])
        raise FlinkError(f"`flink {' '.join(args[:2])}` exited {proc.returncode}:\n{tail}")
    return proc.stdout

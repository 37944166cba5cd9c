"""Prometheus from Debian's `prometheus` package: installed when missing, its config and alert rules written
from this folder's templates, its data under the state dir."""

from __future__ import annotations

import json
import shutil
import string
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from deploy import apt, supervisor
from deploy.errors import DeployError
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import Settings
from deploy.supervisor import Program
from stream.lag import FRESHNESS_LIMIT_S

COMPONENT = "prometheus"
TEMPLATES = DEPLOY_DIR / "prometheus"
# Two days of samples at these scrape intervals are a few hundred MB at most; the stack is rebuilt often.
RETENTION = "2d"


def ensure_installed() -> tuple[Path, Path]:
    """The `prometheus` and `promtool` binaries, installing the Debian package when they are missing."""
    found = _binaries()
    if found:
        return found
    apt.install("prometheus", "Prometheus")
    found = _binaries()
    if not found:
        raise DeployError("apt-get installed prometheus but `prometheus` or `promtool` is not on PATH")
    return found


def _binaries() -> tuple[Path, Path] | None:
    server, tool = shutil.which("prometheus"), shutil.which("promtool")
    return (Path(server), Path(tool)) if server and tool else None


def write_config(settings: Settings, conf: Path) -> Path:
    """Writes prometheus.yml and rules.yml for these settings into `conf`; returns prometheus.yml."""
    conf.mkdir(parents=True, exist_ok=True)
    rules = conf / "rules.yml"
    values = {
        "rules": rules,
        "jobmanager_port": settings.flink_jobmanager_metrics_port,
        "taskmanager_port": settings.flink_taskmanager_metrics_port,
        "api_host": settings.api_host,
        "api_port": settings.api_port,
        "prometheus_port": settings.prometheus_port,
        "checkpoint_age_alert_s": CHECKPOINT_AGE_INTERVALS * settings.checkpoint_interval_ms // 1000,
        "freshness_limit_s": FRESHNESS_LIMIT_S,
    }
    rules.write_text(_fill("rules.yml", values))
    config = conf / "prometheus.yml"
    config.write_text(_fill("prometheus.yml", values))
    return config


# The checkpoint-age alert fires past this many checkpoint intervals (plus the 2 s scrape resolution).
CHECKPOINT_AGE_INTERVALS = 15


def _fill(template: str, values: dict[str, object]) -> str:
    return string.Template((TEMPLATES / template).read_text()).substitute(values)


# Synthetic series for every alert rule, with the alerts they must raise and the healthy ones they must not.
RULES_TEST = "rules_test.yml"


def check(settings: Settings, conf: Path) -> list[str]:
    """`promtool check config` and `promtool check rules` on the files written for `settings`, and `promtool
    test rules` (RULES_TEST) on the rules written for the default settings, whose thresholds its series are
    drawn for: the problems found, if any."""
    _, promtool = ensure_installed()
    config = write_config(settings, conf)
    defaults = conf / "defaults"
    write_config(Settings.from_env({}), defaults)
    shutil.copyfile(TEMPLATES / RULES_TEST, defaults / RULES_TEST)
    problems = _untested(defaults)
    for argv in (
        ["check", "config", str(config)],
        ["check", "rules", str(conf / "rules.yml")],
        ["test", "rules", str(defaults / RULES_TEST)],
    ):
        proc = subprocess.run([str(promtool), *argv], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            problems.append(f"promtool {' '.join(argv)}:\n{(proc.stdout + proc.stderr).strip()}")
    return problems


def _untested(conf: Path) -> list[str]:
    """Alert rules that RULES_TEST never makes fire, or never evaluates where nothing may fire: promtool runs
    the cases the file holds and says nothing of a rule it leaves out."""
    rules = yaml.safe_load((conf / "rules.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    tests = yaml.safe_load((conf / RULES_TEST).read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    seen = {
        "made to fire": {case["alertname"] for case in cases if case.get("exp_alerts")},
        "kept quiet": {case["alertname"] for case in cases if not case.get("exp_alerts")},
    }
    return [
        f"{RULES_TEST}: alert {name} is never {what}"
        for name in sorted(alerts)
        for what, names in seen.items()
        if name not in names
    ]


def _conf(paths: StatePaths) -> Path:
    return paths.home / "prometheus" / "conf"


def prepare(settings: Settings, paths: StatePaths) -> None:
    """Installs Prometheus when missing and writes its configuration for these settings."""
    ensure_installed()
    write_config(settings, _conf(paths))
    (paths.home / "prometheus" / "data").mkdir(parents=True, exist_ok=True)


def programs(settings: Settings, paths: StatePaths) -> list[Program]:
    server = shutil.which("prometheus") or "prometheus"
    argv = [
        server,
        f"--config.file={_conf(paths) / 'prometheus.yml'}",
        f"--storage.tsdb.path={paths.home / 'prometheus' / 'data'}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=127.0.0.1:{settings.prometheus_port}",
    ]
    return [Program(COMPONENT, argv, paths.home / "prometheus")]


def api(settings: Settings, path: str, timeout_s: float = 3.0) -> Any:
    """GET on Prometheus' HTTP API; returns `data` of the answer."""
    url = f"{settings.prometheus_url}{path}"
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
        return json.load(response)["data"]


def targets(settings: Settings) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(settings, "/api/v1/targets?state=active")["activeTargets"]
    return found


def answering(settings: Settings) -> tuple[bool, str]:
    """Whether the HTTP API answers: what `up` waits for (the targets are scraped only from then on)."""
    try:
        found = targets(settings)
    except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
        return False, f"GET {settings.prometheus_url}/api/v1/targets failed: {exc}"
    return True, f"GET /api/v1/targets: {len(found)} targets"


def healthy(settings: Settings) -> tuple[bool, str]:
    """Unhealthy while a scrape target is down, naming it: what is not scraped is not alerted on. A target
    whose program the supervisor holds stopped on purpose (the API under `up --stack-only`) is named but
    not counted; one that crashed, hangs or runs outside the supervisor is."""
    try:
        found = targets(settings)
    except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
        return False, f"GET {settings.prometheus_url}/api/v1/targets failed: {exc}"
    # "unknown" is a target not scraped yet (Prometheus just started): neither up nor down.
    down = sorted(
        f"{t['labels']['job']} at {t['labels']['instance']}" for t in found if t["health"] == "down"
    )
    stopped = _stopped_programs(settings)
    idle = [target for target in down if target.split(" at ")[0] in stopped]
    failing = [target for target in down if target not in idle]
    detail = f"GET /api/v1/targets: {len(found) - len(down)}/{len(found)} targets up"
    detail += f"; down: {', '.join(failing)}" if failing else ""
    detail += f"; not started: {', '.join(idle)}" if idle else ""
    return not failing, detail


def _stopped_programs(settings: Settings) -> set[str]:
    """Programs the supervisor holds STOPPED: never started by `up`, or stopped on request."""
    paths = StatePaths(settings.home)
    if supervisor.pid(paths) is None:
        return set()
    return {program.name for program in supervisor.info(paths) if program.state == "STOPPED"}

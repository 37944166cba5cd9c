"""The stack's process supervisor: supervisord runs every long-lived process in the foreground and restarts
one that dies, with backoff, logging each exit.

Why supervisord (PyPI `supervisor`, pinned in pyproject.toml): this container has no systemd (PID 1 is the
sandbox's own init, which does not even reap orphans), and supervisord is the long-kept, pure-Python
supervisor that installs with the venv. It gives what a hand-grown `procs.py` would have to re-implement:
restart on exit, retry delays, start order and reverse stop order, stop-then-SIGKILL of a whole process
group, log capture and rotation, an XML-RPC control socket, and event listeners (our restart counter).

Its restart policy (supervisor/process.py, 4.x) is linear, not exponential: a program that dies after
running `start_s` is respawned at once; one that dies sooner is in BACKOFF and retried after 1 s, 2 s, 3 s...
(the delay grows by one second per failed start and resets once a start lasts `start_s`), and marked FATAL
after `START_RETRIES` failures in a row, which `status` shows; nothing retries a FATAL program until `up`.
Enough here, because what a restart waits for on one machine is short and bounded: a killed JVM's ports
(seconds), a dead postmaster's orphaned backends (the launcher clears them before it starts), Kafka's log
recovery (inside one start). The postgres-kill, taskmanager-kill and jobmanager-kill drills measure it. What
rides out outages of unbounded length is the stream job, whose restart strategy is Flink's exponential-delay
(1 s doubling to 30 s, never giving up: stream/topology.py), not a process restart. Not covered: a program
that crashes after `start_s` again and again is respawned at once every time (no growing delay), and one
that cannot start for longer than the retries last (3.5 min) stays FATAL until a person runs `up`.

The restart log: supervisord runs this module (`python -m deploy.supervisor LOG`) as its event listener, which
writes one JSON line per crash of a supervised program: an unexpected exit of a running program (respawned at
once) or a failed start (retried after a growing delay); giving up (FATAL) is logged too. `status` counts
these lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supervisor import childutils
from supervisor.xmlrpc import SupervisorTransport

from deploy import procs
from deploy.errors import DeployError
from deploy.paths import StatePaths
from deploy.wait import wait_until

# Failed starts in a row before FATAL: 1+2+...+20 s = 3.5 min of retries, longer than any port a killed JVM
# still holds (seconds) and than Postgres' orphaned backends take to be cleared.
START_RETRIES = 20
# supervisord's stop: the program's stop signal, then SIGKILL to its whole process group after this. Kafka
# and Postgres flush and close cleanly in a few seconds; 30 s covers a loaded machine.
STOP_WAIT_S = 30
# Until the socket answers after `supervisord` daemonises: about 0.5 s measured.
START_TIMEOUT_S = 30
NAME = "supervisord"
LISTENER = "restart-log"
# supervisord's own states a program can be in (supervisor.states.ProcessStates), grouped by meaning.
UP_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF"})
FAILED_STATES = frozenset({"FATAL", "EXITED", "UNKNOWN"})
# The events the restart log records, as it words them.
CRASHES = {
    "PROCESS_STATE_EXITED": "exited unexpectedly",
    "PROCESS_STATE_BACKOFF": "failed to start",
    "PROCESS_STATE_FATAL": "gave up after repeated failed starts",
}


class SupervisorError(DeployError):
    """supervisord refused a request or could not be reached; the message names the program."""


@dataclass(frozen=True)
class Program:
    """One long-lived process of the stack, run in the foreground under supervisord."""

    name: str
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    # Postgres shuts down fast (and cleanly) on SIGINT; SIGTERM waits for every client to leave.
    stop_signal: str = "TERM"
    # Up this long counts as started: a shorter life is a failed start, retried with backoff.
    start_s: int = 3


@dataclass(frozen=True)
class ProgramInfo:
    name: str
    state: str
    pid: int
    description: str
    restarts: int
    last_restart: str


def socket_path(paths: StatePaths) -> Path:
    return paths.run / "supervisor.sock"


def config_path(paths: StatePaths) -> Path:
    return paths.run / "supervisord.conf"


def pid_file(paths: StatePaths) -> Path:
    return paths.run / f"{NAME}.pid"


def restart_log(paths: StatePaths) -> Path:
    return paths.run / "restarts.jsonl"


def _escape(value: str) -> str:
    # supervisord expands %(name)s in every value: a literal percent is written twice.
    return value.replace("%", "%%")


def _section(header: str, values: Mapping[str, object]) -> str:
    lines = [f"[{header}]", *(f"{key}={_escape(str(value))}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def _environment(env: Mapping[str, str]) -> str:
    for key, value in env.items():
        if '"' in value or "\n" in value:
            raise SupervisorError(f"environment value of {key} cannot be passed to supervisord: {value!r}")
    return ",".join(f'{key}="{value}"' for key, value in env.items())


def render(programs: Sequence[Program], paths: StatePaths) -> str:
    """supervisord.conf: programs start in list order (`up` starts them) and stop in reverse (priority)."""
    logs = paths.logs
    sections = [
        _section("unix_http_server", {"file": socket_path(paths), "chmod": "0700"}),
        _section(
            "supervisord",
            {
                "logfile": logs / f"{NAME}.log",
                "logfile_maxbytes": "20MB",
                "logfile_backups": 2,
                "pidfile": pid_file(paths),
                "directory": paths.home,
                "childlogdir": logs,
                # Kafka keeps a file handle per log segment; supervisord raises the soft limit this far.
                "minfds": 16384,
            },
        ),
        _section(
            "rpcinterface:supervisor",
            {"supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"},
        ),
        _section("supervisorctl", {"serverurl": f"unix://{socket_path(paths)}"}),
    ]
    for priority, program in enumerate(programs, start=1):
        values: dict[str, object] = {
            "command": shlex.join(program.argv),
            "directory": program.cwd,
            # `up` starts each program in order once what it needs is ready; from then on the supervisor
            # keeps it running.
            "autostart": "false",
            "autorestart": "true",
            "startsecs": program.start_s,
            "startretries": START_RETRIES,
            "stopsignal": program.stop_signal,
            "stopwaitsecs": STOP_WAIT_S,
            "stopasgroup": "true",
            "killasgroup": "true",
            "priority": priority * 10,
            "redirect_stderr": "true",
            "stdout_logfile": paths.log_file(program.name),
            "stdout_logfile_maxbytes": "50MB",
            "stdout_logfile_backups": 2,
        }
        if program.env:
            values["environment"] = _environment(program.env)
        sections.append(_section(f"program:{program.name}", values))
    listener = [sys.executable, "-m", "deploy.supervisor", str(restart_log(paths))]
    sections.append(
        _section(
            f"eventlistener:{LISTENER}",
            {
                "command": shlex.join(listener),
                "events": "PROCESS_STATE",
                "autostart": "true",
                "autorestart": "true",
                # Its stdout is supervisord's event protocol, not a log.
                "stdout_logfile": "NONE",
                "stderr_logfile": paths.log_file(LISTENER),
                "priority": 1,
            },
        )
    )
    return "\n".join(sections)


def _rpc(paths: StatePaths, method: str, *args: object) -> Any:
    """One XML-RPC call over the stack's unix socket (the connection is closed after it)."""
    transport = SupervisorTransport(None, None, f"unix://{socket_path(paths)}")
    try:
        # The URL is a placeholder: the transport always talks to the unix socket.
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        return getattr(proxy.supervisor, method)(*args)
    finally:
        transport.close()


def pid(paths: StatePaths) -> int | None:
    """supervisord's pid if it runs and answers on this stack's socket."""
    found = procs.read_pid(pid_file(paths))
    if found is None:
        return None
    try:
        _rpc(paths, "getState")
    except (OSError, xmlrpc.client.Error):
        return None
    return found


def ensure_running(programs: Sequence[Program], paths: StatePaths) -> int | None:
    """Writes the config; starts supervisord unless it runs (then applies a changed config as
    `supervisorctl update` would). Returns the pid it started, if any."""
    for folder in (paths.run, paths.logs, *(program.cwd for program in programs)):
        folder.mkdir(parents=True, exist_ok=True)
    conf = config_path(paths)
    conf.write_text(render(programs, paths))
    conf.chmod(0o600)  # the API's environment carries the database passwords
    if pid(paths) is not None:
        _apply_changes(paths)
        return None
    restart_log(paths).write_text("")
    socket_path(paths).unlink(missing_ok=True)
    proc = subprocess.run(
        [str(Path(sys.executable).with_name(NAME)), "-c", str(conf)],
        capture_output=True,
        text=True,
        cwd=paths.home,
        check=False,
    )
    if proc.returncode != 0:
        raise SupervisorError(f"supervisord did not start: {(proc.stderr or proc.stdout).strip()[-400:]}")
    wait_until(lambda: pid(paths) is not None, START_TIMEOUT_S, f"supervisord on {socket_path(paths)}")
    return pid(paths)


def _apply_changes(paths: StatePaths) -> None:
    [[added, changed, removed]] = _rpc(paths, "reloadConfig")
    for name in [*changed, *removed]:
        with contextlib.suppress(xmlrpc.client.Fault):
            _rpc(paths, "stopProcessGroup", name)
        _rpc(paths, "removeProcessGroup", name)
    for name in [*added, *changed]:
        _rpc(paths, "addProcessGroup", name)


def _call(paths: StatePaths, method: str, *args: object) -> Any:
    try:
        return _rpc(paths, method, *args)
    except xmlrpc.client.Fault as exc:
        raise SupervisorError(f"supervisord {method}{args}: {exc.faultString}") from exc
    except OSError as exc:
        raise SupervisorError(
            f"supervisord is not running ({exc}): start the stack with `deploy/movieviews up`"
        ) from exc


def start(paths: StatePaths, name: str) -> None:
    """Asks supervisord to start `name` unless it is already up (a crashed one it is retrying counts)."""
    if state(paths, name) in UP_STATES:
        return
    _call(paths, "startProcess", name, False)


def stop(paths: StatePaths, name: str) -> None:
    """Stops `name` on purpose (not a crash: supervisord will not restart it) and waits until it is gone."""
    if state(paths, name) in ("STOPPED", "EXITED", "FATAL"):
        return
    _call(paths, "stopProcess", name, True)


def signal(paths: StatePaths, name: str, signame: str) -> None:
    _call(paths, "signalProcess", name, signame)


def state(paths: StatePaths, name: str) -> str:
    return str(_call(paths, "getProcessInfo", name)["statename"])


def program_pid(paths: StatePaths, name: str) -> int | None:
    found = int(_call(paths, "getProcessInfo", name)["pid"])
    return found or None


def info(paths: StatePaths) -> list[ProgramInfo]:
    restarts = restart_counts(restart_log(paths))
    out = []
    for entry in _call(paths, "getAllProcessInfo"):
        if entry["group"] == LISTENER:
            continue
        count, last = restarts.get(entry["name"], (0, ""))
        out.append(
            ProgramInfo(entry["name"], entry["statename"], entry["pid"], entry["description"], count, last)
        )
    return out


def crash(event: str, payload: str) -> dict[str, str] | None:
    """The line to log for one event, or None for an event that is no crash (a start, a deliberate stop)."""
    headers, _ = childutils.eventdata(payload + "\n")
    if event not in CRASHES or (event == "PROCESS_STATE_EXITED" and headers.get("expected") == "1"):
        return None
    return {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "program": headers["processname"],
        "what": CRASHES[event],
        "pid": headers.get("pid", ""),
    }


def listen(log: Path) -> None:
    """The event listener: speaks supervisord's protocol on stdin and stdout, appends each crash to `log`."""
    while True:
        childutils.listener.ready(sys.stdout)
        header = sys.stdin.readline()
        if not header:
            return  # supervisord is gone
        headers = childutils.get_headers(header)
        payload = sys.stdin.read(int(headers["len"]))
        line = crash(headers["eventname"], payload)
        if line is not None:
            with log.open("a") as out:
                out.write(json.dumps(line) + "\n")
            print(json.dumps(line), file=sys.stderr, flush=True)
        childutils.listener.ok(sys.stdout)


def restart_counts(log: Path) -> dict[str, tuple[int, str]]:
    """Per program, how often it died or failed to start since supervisord started, and the last time."""
    counts: dict[str, tuple[int, str]] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            count, _ = counts.get(event["program"], (0, ""))
            counts[event["program"]] = (count + 1, f"{event['time']} {event['what']}")
    return counts


def shutdown(paths: StatePaths, timeout_s: float = 10 * STOP_WAIT_S) -> int | None:
    """Stops every program (reverse start order) and supervisord itself; returns its pid once it is gone."""
    found = pid(paths)
    if found is None:
        return None
    _call(paths, "shutdown")
    wait_until(lambda: not procs.is_alive(found), timeout_s, f"supervisord (pid {found}) to stop")
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(found, os.WNOHANG)
    return found


if __name__ == "__main__":
    listen(Path(sys.argv[1]))

"""Processes as the OS sees them: alive or not, what /proc says of one, the ports they hold, and starting and
stopping one by pid file (what runs outside the supervisor: the API beside a team's stack, a drill's API)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy.errors import ComponentDiedError, PortTakenError

# A JVM flushing its logs and closing sockets on SIGTERM takes a few seconds; past this it gets SIGKILL.
STOP_GRACE_S = 20.0
# Processes this interpreter started: held so a running child is not garbage-collected (Popen warns), and
# reaped by `stop`.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if is_alive(pid) else None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0). Its leader thread turns zombie first, though, while the other threads
    # are still exiting and its sockets are still open: it is gone only when no thread is left but the leader.
    # A process exiting while it is read answers ENOENT or ESRCH: either way, gone.
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            return True
        return sum(1 for _ in Path(f"/proc/{pid}/task").iterdir()) > 1
    return False


def working_dir(pid: int) -> Path | None:
    """The folder `pid` works in; None once it is gone (or not ours to read)."""
    try:
        return Path(f"/proc/{pid}/cwd").readlink()
    except OSError:
        return None


def command_line(pid: int) -> str:
    """`pid`'s command line, cut to 80 characters for a message; '?' once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:80] or "?"


def spawn(argv: Sequence[str], pid_file: Path, log_file: Path, env: Mapping[str, str], cwd: Path) -> int:
    """Starts a long-running process in its own session (so a terminal's Ctrl-C does not reach it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    _SPAWNED[proc.pid] = proc
    return proc.pid


def stop(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while is_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if is_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    proc = _SPAWNED.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            del _SPAWNED[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_holder(port: int) -> str:
    """Who listens on `port`, as `ss` tells it (process name and pid), or 'an unknown process'."""
    try:
        out = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "an unknown process"
    users = out.split("users:", 1)
    return users[1].strip() if len(users) == 2 else "an unknown process"


def ensure_port_free(port: int, component: str) -> None:
    if port_open(port):
        raise PortTakenError(f"port {port} needed by {component} is taken by {port_holder(port)}")


def wait_port_free(port: int, component: str, timeout_s: float) -> float:
    """Seconds until nothing listens on `port` (0.0 if it was free); PortTakenError naming the holder after
    `timeout_s`."""
    if not port_open(port):
        return 0.0
    start = time.monotonic()
    while port_open(port):
        if time.monotonic() - start > timeout_s:
            ensure_port_free(port, component)
        time.sleep(0.2)
    return time.monotonic() - start


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def died(component: str, log_file: Path) -> ComponentDiedError:
    return ComponentDiedError(f"{component} died during start; last lines of {log_file}:\n{tail(log_file)}")

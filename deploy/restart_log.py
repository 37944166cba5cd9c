"""supervisord's event listener for the stack: one JSON line per crash of a supervised program.

A crash is an unexpected exit of a running program (supervisord respawns it at once) or a failed start
(retried after a growing delay); giving up (FATAL) is logged too. `movieviews status` counts these lines.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from supervisor import childutils

WHAT = {
    "PROCESS_STATE_EXITED": "exited unexpectedly",
    "PROCESS_STATE_BACKOFF": "failed to start",
    "PROCESS_STATE_FATAL": "gave up after repeated failed starts",
}


def crash(event: str, payload: str) -> dict[str, str] | None:
    """The line to log for one event, or None for an event that is no crash (a start, a deliberate stop)."""
    headers, _ = childutils.eventdata(payload + "\n")
    if event not in WHAT or (event == "PROCESS_STATE_EXITED" and headers.get("expected") == "1"):
        return None
    return {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "program": headers["processname"],
        "what": WHAT[event],
        "pid": headers.get("pid", ""),
    }


def main(log: Path) -> None:
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


if __name__ == "__main__":
    main(Path(sys.argv[1]))

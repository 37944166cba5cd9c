"""What supervisord runs for Postgres: clear what a killed postmaster left, then become `postgres -D`.

`python -m deploy.postgres.launcher DATA POSTGRES-ARGV...` runs as root (or the user running the stack),
clears orphaned backends and a stale lock file of DATA, drops to the `postgres` user and execs the server, so
the supervised pid is the postmaster itself. A postmaster already serving DATA is never joined by a second
one.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

from deploy.postgres import postmaster


def become_postgres() -> None:
    """The server refuses to run as root; root runs it as the `postgres` user the Debian package makes."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam("postgres")
    os.initgroups(user.pw_name, user.pw_gid)
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)


def main(data: Path, argv: list[str]) -> int:
    running = postmaster.serving(data)
    if running is not None:
        print(f"a postmaster (pid {running}) already serves {data}: not starting a second", flush=True)
        return 1
    for repair in postmaster.clear_leftovers(data):
        print(f"movieviews: repaired: {repair}", flush=True)
    become_postgres()
    os.execv(argv[0], argv)  # noqa: S606 (the server binary from pg_config, no shell)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))

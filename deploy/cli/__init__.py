"""`movieviews`: the one console command; each subcommand is a module of this package.

A command module exposes `add_arguments(parser)`, which sets `run(args, settings) -> int` on every parser it
makes (`parser.set_defaults(run=...)`, argparse's idiom for subcommands; `bench` and `drill` dispatch the same
way). It is imported only when its subcommand runs, so `movieviews status` does not pay for PyFlink or
Strawberry imports. Errors are reported here and only here: a `MovieviewsError` becomes one line on stderr,
`movieviews COMMAND: what failed`, exit 1 (2 for a usage or configuration error); anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging.config
import os
import signal
import sys
from collections.abc import Sequence

from deploy.errors import UsageError
from deploy.settings import PROFILES, ConfigError, Settings
from ground import MovieviewsError
from readmodel.logs import logging_config

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("deploy.cli.up", "install what is missing and start Kafka, Flink and Postgres (idempotent)"),
    "down": ("deploy.cli.down", "stop every process `up` started"),
    "status": ("deploy.cli.status", "check each component; exit non-zero if any is unhealthy"),
    "logs": ("deploy.cli.logs", "where each component logs"),
    "migrate": ("deploy.cli.migrate", "apply Alembic migrations to the read-model database"),
    "schemas": ("deploy.cli.schemas", "schema catalog: `schemas check` runs the evolution gate"),
    "produce": ("deploy.cli.produce", "publish MovieViewed events: Zipf popularity, ground-truth file"),
    "job": ("deploy.cli.job", "the stream job: submit, run-local, stop, status"),
    "rebuild": ("deploy.cli.rebuild", "rebuild the read model from the log and switch readers to it"),
    "serve": ("deploy.cli.serve", "serve the GraphQL API (uvicorn)"),
    "keys": ("deploy.cli.keys", "API keys: create (shown once), list, revoke"),
    "demo": ("deploy.cli.demo", "register movies, record views through GraphQL, watch topMovies"),
    "drill": ("deploy.drills.cli", "fault drills against the real stack, with a pass/fail report"),
    "bench": ("deploy.bench.cli", "benchmarks that print tables and write JSON"),
    "dlq": ("deploy.cli.dlq", "inspect and replay dead letters"),
}


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="movieviews", description="Real-time movie view counter.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.add_argument(
            "--profile",
            choices=PROFILES,
            help="the stack to act on (default: MOVIEVIEWS_PROFILE, else single)",
        )
        if name == selected:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Runs one command; `settings` default to the environment's (tests pass their own)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        settings = settings or Settings.from_env(os.environ, profile=args.profile)
        # Warnings and errors of the libraries the commands use (librdkafka's included, `ground.kafka`), each
        # distinct line at most once a minute; `serve` configures its own (INFO) alike.
        logging.config.dictConfig(logging_config(settings.json_logs, "WARNING", rate_limited=True))
        return int(args.run(args, settings))
    except MovieviewsError as exc:
        print(f"movieviews {args.command}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError | ConfigError) else 1


def entry() -> int:
    """The console command. SIGTERM (`kill`, `timeout`, a CI runner stopping a step) unwinds like Ctrl-C, so a
    drill or benchmark stopped that way still deletes its scratch topics, database and jobs on the way out
    (`Sandbox.__exit__`); Python's default would end the process where it stands and leave them behind."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    return main()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(entry())

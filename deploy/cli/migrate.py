from __future__ import annotations

import argparse

from deploy.settings import Settings
from readmodel import migrate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    parser.add_argument("--check", action="store_true", help="fail if the models and migrations differ")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        migrate.check(settings.owner_url)
        print("alembic check: models and migrations agree")
        return 0
    migrate.upgrade(settings.owner_url, args.revision)
    print(f"database {settings.pg_database} at {args.revision}")
    return 0

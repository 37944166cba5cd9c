"""`movieviews schemas check` (the evolution gate) and `movieviews schemas list`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deploy.settings import Settings
from schemas.catalog import AVRO_DIR, iter_schema_files, load_schema
from schemas.compat import RELEASED_FILE, check_tree, file_digest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(required=True, metavar="ACTION")
    check = sub.add_parser("check", help="every version reads all earlier ones; released files unchanged")
    listing = sub.add_parser("list", help="subjects, versions, fingerprints")
    for action in (check, listing):
        action.add_argument("--dir", type=Path, default=AVRO_DIR, help="schema folder (default: bundled)")
    check.set_defaults(run=check_gate)
    listing.set_defaults(run=list_schemas)


def check_gate(args: argparse.Namespace, settings: Settings) -> int:
    root: Path = args.dir
    problems = check_tree(root)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        return 1
    count = sum(1 for _ in iter_schema_files(root))
    print(f"OK {count} schema versions, each BACKWARD_TRANSITIVE compatible; released versions unchanged")
    return 0


def list_schemas(args: argparse.Namespace, settings: Settings) -> int:
    root: Path = args.dir
    released_file = root / RELEASED_FILE
    released = json.loads(released_file.read_text(encoding="utf-8")) if released_file.exists() else {}
    print(f"{'subject':<36} {'version':>7}  {'fingerprint':<16}  {'released':<8}  sha256")
    for subject, version, path in iter_schema_files(root):
        fingerprint = load_schema(path.read_text(encoding="utf-8")).fingerprint.hex()
        is_released = "yes" if str(version) in released.get(subject, {}) else "no"
        print(f"{subject:<36} {version:>7}  {fingerprint:<16}  {is_released:<8}  {file_digest(path)}")
    return 0

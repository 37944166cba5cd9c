"""`movieviews keys create / list / revoke`: the API's keys, managed as mv_owner."""

from __future__ import annotations

import argparse
import sys

from deploy.settings import Settings
from readmodel import apikeys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(required=True, metavar="ACTION")
    create = sub.add_parser("create", help="make a key and print it (shown once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--scope",
        action="append",
        default=[],
        choices=apikeys.SCOPES,
        help="what the key may write; repeat for several (admin: everything); none: a key that only reads",
    )
    create.add_argument("--rate", type=int, help="requests/s for this key (default: settings api_key_rate)")
    listing = sub.add_parser("list", help="every key: id, name, scopes, rate, created, revoked")
    revoke = sub.add_parser("revoke", help="revoke a key by its id (the API stops accepting it within 2 s)")
    revoke.add_argument("key_id")
    create.set_defaults(run=_create)
    listing.set_defaults(run=_list)
    revoke.set_defaults(run=_revoke)


def _create(args: argparse.Namespace, settings: Settings) -> int:
    print(apikeys.create(settings.owner_dsn, settings.api_key_pepper, args.name, args.scope, args.rate))
    print("Shown once: store it now. Send it as `Authorization: Bearer <key>`.", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    print(f"{'id':<14} {'name':<20} {'scopes':<28} {'rate/s':>7}  {'created':<25} revoked")
    for info in apikeys.list_keys(settings.owner_dsn):
        rate = str(info.rate_per_s or settings.api_key_rate)
        print(
            f"{info.key_id:<14} {info.name:<20} {','.join(info.scopes):<28} {rate:>7}  "
            f"{info.created_at.isoformat(timespec='seconds'):<25} "
            f"{info.revoked_at.isoformat(timespec='seconds') if info.revoked_at else '-'}"
        )
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    apikeys.revoke(settings.owner_dsn, args.key_id)
    print(f"revoked {args.key_id}")
    return 0

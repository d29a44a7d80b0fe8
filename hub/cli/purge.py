"""`hub purge [--dry-run] [--json]`: apply the office's `[retention]` policy now (printing what went), or list what
it would remove."""

from __future__ import annotations

import argparse
from zoneinfo import ZoneInfo

from hub.cases.retention import Plan, Purged, plan, purge
from hub.cli.context import print_json, with_hub
from hub.core.app import Hub
from hub.core.errors import UserError

OFF = ("retention is off: nothing is purged until [retention] closed_case_years or raw_mail_days is set in "
       "hub.toml (README: \"Records: merge, export, transfer, retention\")")


def cmd_purge(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> tuple[Plan | Purged, str]:
        retention = hub.config.retention
        if not retention.enabled:
            raise UserError(OFF)
        if args.dry_run:
            with hub.sessions() as session:
                return plan(session, retention, hub.clock.now()), hub.config.office.timezone
        return purge(hub.sessions, retention, hub.refs, hub.clock.now()), hub.config.office.timezone
    found, zone = with_hub(args, work)
    if args.json:
        print_json(found.as_json())
    elif isinstance(found, Purged):
        print(found.line())
    else:
        _print_plan(found, ZoneInfo(zone))
    return 0


def _print_plan(found: Plan, zone: ZoneInfo) -> None:
    for case in found.cases:
        sizes = case.sizes
        print(f"{case.ref:<16} closed {case.closed_at.astimezone(zone):%Y-%m-%d}  {sizes.messages} messages  "
              f"{sizes.files} files  {sizes.bytes} bytes")
    print(f"{len(found.cases)} cases to purge; original mail of {found.raw_messages} more messages "
          f"({found.raw_bytes} bytes); {found.loose_messages} messages on no case to empty; "
          f"{found.quarantine} quarantine items to drop (dry run: nothing changed)")

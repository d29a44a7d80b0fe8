"""Commands on the case file: listing and showing cases, the mail commands' actions, triage, quarantine."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.cases.views import case_detail, find_case, list_cases, triage_list
from hub.cli.case_actions import run_action
from hub.cli.context import EXIT_ERROR, print_case_table, print_json, with_hub
from hub.core.app import Hub
from hub.intake import quarantine
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake, retry_quarantined


def cmd_cases(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return list_cases(session, args.status)
    found = with_hub(args, work)
    if args.json:
        print_json(found)
    else:
        print_case_table(found)
    return 0


def cmd_case_show(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> dict[str, Any]:
        with hub.sessions() as session:
            return case_detail(session, find_case(session, hub.refs, args.ref))
    view = with_hub(args, work)
    if args.json:
        print_json(view)
        return 0
    person = view["constituent"]
    print(f"{view['ref']}  {view['status']}  {view['subject']}")
    print(f"constituent: {person['name']} <{person['email'] or '-'}> {person['phone'] or ''}".rstrip())
    if person["address"] or person["zip"]:
        print(f"address: {', '.join((person['address'] or '').splitlines())} {person['zip'] or ''}".strip())
    print(f"assignee: {view['assignee'] or '-'}   agency: {view['agency'] or '-'}   "
          f"labels: {', '.join(view['labels']) or '-'}")
    for message in view["messages"]:
        arrow = "<-" if message["direction"] == "in" else "->"
        print(f"\n{arrow} {message['at']}  {message['kind']}  {message['sender']}  {message['subject']}")
        for line in (message["body"] or "").splitlines():
            print(f"   {line}")
    for release in view["releases"]:
        print(f"privacy release: signed {release['signed_on']} ({release['method']}), recorded by "
              f"{release['recorded_by']}")
    for reminder in view["reminders"]:
        print(f"reminder: {reminder['kind']} {reminder['due_at'][:10]} {reminder['state']} {reminder['note']}".rstrip())
    if view["outbox"]:
        print("\noutbox:")
        for row in view["outbox"]:
            print(f"   {row['state']:<9} {row['letter']} to {row['recipient']}")
    print("\nhistory:")
    for event in view["events"]:
        print(f"   {event['at']}  {event['kind']}  {event['detail']}")
    return 0


def cmd_case_action(args: argparse.Namespace) -> int:
    line = with_hub(args, lambda hub: run_action(hub, args.ref, args.action_name, " ".join(args.words)))
    print(f"{args.ref.upper()}: {line}")
    return 0


def cmd_triage_list(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return triage_list(session)
    held = with_hub(args, work)
    if args.json:
        print_json(held)
    elif not held:
        print("triage is empty")
    for item in [] if args.json else held:
        near = f" (mentions {item['candidate_case']})" if item["candidate_case"] else ""
        print(f"{item['id']:>6}  {item['at'][:16]}  {item['kind']:<11} {item['sender']}  {item['subject'][:50]}")
        print(f"        {item['reason']}{near}")
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[str]:
        with hub.sessions() as session:
            return [f"{item.id:>5}  {item.created_at:%Y-%m-%d %H:%M}  {item.size:>9} B  {item.source}  {item.reason}"
                    + (f"\n        {where}" if (where := quarantine.whereabouts(item)) else "")
                    for item in quarantine.held_items(session)]
    lines = with_hub(args, work)
    print("\n".join(lines) if lines else "quarantine is empty")
    return 0


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    outcome = with_hub(args, lambda hub: retry_quarantined(Intake.of(hub), args.id, parse_email, "cli"))
    if outcome.fate == "quarantine":
        print(f"hub: quarantine item {args.id} failed again: {outcome.reason}", file=sys.stderr)
        return EXIT_ERROR
    print(f"quarantine item {args.id}: {outcome.fate}" + (f" {outcome.case_ref}" if outcome.case_ref else ""))
    return 0


def cmd_quarantine_discard(args: argparse.Namespace) -> int:
    with_hub(args, lambda hub: quarantine.close(hub.sessions, args.id, "discarded", "cli", hub.clock.now()))
    print(f"quarantine item {args.id}: discarded")
    return 0

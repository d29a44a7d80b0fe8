"""Commands on the case file: listing and showing cases, the mail commands' actions, quarantine (triage: .triage)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.cases.case_files import CaseFile, case_files, write_case_files
from hub.cases.search import Found, search
from hub.cases.views import CaseFilter, case_detail, find_case, iso, list_cases
from hub.cli.case_actions import run_action, run_merge
from hub.cli.context import EXIT_ERROR, print_case_table, print_json, with_hub
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.intake import quarantine
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake, retry_quarantined


def cmd_cases(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[dict[str, Any]]:
        wanted = CaseFilter(status=args.status, assignee=_assignee(hub, args.assignee),
                            agency=_agency(hub, args.agency), label=args.label, older_than_days=args.older_than,
                            overdue=args.overdue, waiting_on=args.waiting_on)
        with hub.sessions() as session:
            return list_cases(session, wanted, hub.clock.now())
    found = with_hub(args, work)
    if args.json:
        print_json(found)
    else:
        print_case_table(found)
    return 0


def _assignee(hub: Hub, word: str | None) -> str | None:
    if word is None:
        return None
    person = hub.config.person(word)
    if person is None:
        raise UserError(f"--assignee {word}: nobody on the staff answers to that name (staff: "
                        f"{hub.config.staff_names})")
    return person.email


def _agency(hub: Hub, key: str | None) -> str | None:
    if key is None:
        return None
    agency = hub.config.agency(key.lower())  # as #agency reads it
    if agency is None:
        keys = ", ".join(known.key for known in hub.config.agencies)
        raise UserError(f"--agency {key}: no agency with that key (agencies.toml has: {keys})")
    return agency.key


def cmd_case_show(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> tuple[dict[str, Any], ZoneInfo]:
        with hub.sessions() as session:
            return (case_detail(session, find_case(session, hub.refs, args.ref), hub.config.office.zip_codes),
                    ZoneInfo(hub.config.office.timezone))
    view, zone = with_hub(args, work)
    if args.json:
        print_json(view)
        return 0

    def local(moment: str | None) -> str:
        """An ISO time of the view as people read it: in the office's zone, to the minute."""
        return f"{datetime.fromisoformat(moment).astimezone(zone):%Y-%m-%d %H:%M}" if moment else "-"
    person = view["constituent"]
    print(f"{view['ref']}  {view['status']}  {view['subject']}")
    print(f"constituent: {person['name']} <{person['email'] or '-'}> {person['phone'] or ''}".rstrip())
    if person["address"] or person["zip"]:
        where = {True: "  (in the district)", False: "  (outside the district)"}.get(person["in_district"], "")
        print(f"address: {', '.join((person['address'] or '').splitlines())} {person['zip'] or ''}".strip() + where)
    for contact in view["contacts"]:
        print(f"also: {contact['kind']} {contact['value']}")
    for other in view["people"]:
        reached = ", ".join(value for value in (other["email"], other["phone"]) if value)
        print(f"person: {other['name']} ({other['role']}) {reached}")
    print(f"assignee: {view['assignee'] or '-'}   agency: {view['agency'] or '-'}   "
          f"labels: {', '.join(view['labels']) or '-'}")
    for message in view["messages"]:
        arrow = "<-" if message["direction"] == "in" else "->"
        print(f"\n{arrow} {local(message['at'])}  {message['kind']}  {message['sender']}  {message['subject']}")
        for line in (message["body"] or "").splitlines():
            print(f"   {line}")
        for file in message["attachments"]:
            kept = " (too large: name and size only)" if file["oversized"] else ""
            print(f"   file: {file['filename']} ({file['content_type']}, {file['size']} bytes){kept}")
    for release in view["releases"]:
        print(f"privacy release: signed {release['signed_on']} ({release['method']}), recorded by "
              f"{release['recorded_by']}")
    for reminder in view["reminders"]:
        due = local(reminder["due_at"])
        print(f"reminder: {reminder['kind']} {due} {reminder['state']} {reminder['note']}".rstrip())
    if view["outbox"]:
        print("\noutbox:")
        for row in view["outbox"]:
            print(f"   {row['state']:<9} {row['letter']} to {row['recipient']}")
    print("\nhistory:")
    for event in view["events"]:
        print(f"   {local(event['at'])}  {event['kind']}  {event['detail']}")
    return 0


def cmd_case_files(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> tuple[list[CaseFile], list[Path]]:
        with hub.sessions() as session:
            files = case_files(session, find_case(session, hub.refs, args.ref))
            return files, write_case_files(session, files, args.out) if args.out is not None else []
    files, written = with_hub(args, work)
    if args.out is None:
        for file in files:
            kept = f" ({file.missing})" if file.missing else ""
            print(f"{file.name}  {file.content_type}, {file.size} bytes, {file.at[:10]}{kept}")
        if not files:
            print("no files on this case")
        return 0
    for path in written:
        print(path)
    for file in files:
        if file.missing:
            print(f"hub: {file.name} not written: {file.missing}", file=sys.stderr)
    return 0


def cmd_case_action(args: argparse.Namespace) -> int:
    line = with_hub(args, lambda hub: run_action(hub, args.ref, args.action_name, " ".join(args.words)))
    print(f"{args.ref.upper()}: {line}")
    return 0


def cmd_case_merge(args: argparse.Namespace) -> int:
    print(with_hub(args, lambda hub: run_merge(hub, args.merged, args.kept, args.force)))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> Found:
        with hub.sessions() as session:
            return search(session, args.text)
    found = with_hub(args, work)
    if args.json:
        print_json([hit.as_json() for hit in found.hits])
        return 0
    if not found.hits:
        print(f"nothing found for {args.text!r}")
    for hit in found.hits:
        print(f"{hit.ref or '(triage)':<16} {hit.status:<19} {hit.at:%Y-%m-%d} {hit.match:<14} {hit.snippet}")
    if found.more:
        print(f"(the newest {len(found.hits)}; more matched: add a word to narrow the search)")
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[str] | list[dict[str, Any]]:
        with hub.sessions() as session:
            items = quarantine.held_items(session)
            if args.json:
                return [{"id": item.id, "created_at": iso(item.created_at), "state": item.state,
                         "channel": item.channel, "size": item.size, "source": item.source, "reason": item.reason,
                         "whole_message_at": item.whole_message_at} for item in items]
            return [f"{item.id:>5}  {item.created_at:%Y-%m-%d %H:%M}  {item.size:>9} B  {item.source}  {item.reason}"
                    + (f"\n        {where}" if (where := quarantine.whereabouts(item)) else "") for item in items]
    found = with_hub(args, work)
    if args.json:
        print_json(found)
    else:
        print("\n".join(str(line) for line in found) if found else "quarantine is empty")
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

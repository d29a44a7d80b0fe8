"""`hub triage list | show ID | file ID REF | new ID | dismiss ID REASON`: the triage queue from the command line,
through the same code as a caseworker's reply to a triage notice."""

from __future__ import annotations

import argparse
from typing import Any

from hub.cases.letter_send import letters_of
from hub.cases.triage_queue import dismiss
from hub.cases.views import triage_list
from hub.cli.context import print_json, with_hub
from hub.core.app import Hub
from hub.intake.triage_filing import file_on_case, open_for_sender
from hub.intake.triage_notice import item_view

ACTOR = "cli"


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


def cmd_triage_show(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> dict[str, Any]:
        with hub.engine.connect() as connection:
            return item_view(connection, args.id, hub.config)
    item = with_hub(args, work)
    sender = f"{item['sender_name']} <{item['sender']}>" if item["sender_name"] else item["sender"]
    print(f"triage item {item['id']}: {item['state']}")
    print(f"reason:  {item['reason']}")
    print(f"from:    {sender}   ({item['kind']} {item['channel']}, {item['at'][:16]})")
    print(f"subject: {item['subject']}")
    for line in (item["body"] or "(no text)").splitlines():
        print(f"   {line}")
    if item["state"] == "waiting":
        likely = item["likely_cases"]
        print("likely cases:" if likely else "no likely case found")
        for case in likely:
            print(f"   {case['ref']}  {case['constituent'] or '-'}  {case['subject'][:50]} ({case['status']}): "
                  f"{'; '.join(case['why'])}")
    return 0


def cmd_triage_file(args: argparse.Namespace) -> int:
    print(_place(args, lambda hub, connection, now: file_on_case(
        connection, args.id, args.ref, ACTOR, ACTOR, hub.config, hub.refs, letters_of(hub), now).line))
    return 0


def cmd_triage_new(args: argparse.Namespace) -> int:
    print(_place(args, lambda hub, connection, now: open_for_sender(
        connection, args.id, ACTOR, ACTOR, hub.config, hub.refs, letters_of(hub), now).line))
    return 0


def cmd_triage_dismiss(args: argparse.Namespace) -> int:
    print(_place(args, lambda hub, connection, now: dismiss(connection, args.id, " ".join(args.reason), ACTOR,
                                                             ACTOR, now)))
    return 0


def _place(args: argparse.Namespace, action: Any) -> str:
    """Run one placing in its own transaction; returns its line."""
    def work(hub: Hub) -> str:
        with hub.engine.begin() as connection:
            return str(action(hub, connection, hub.clock.now()))
    return str(with_hub(args, work))

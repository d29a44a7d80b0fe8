"""The `hub` command: parse the arguments, call one library function, print the result.

Every error a person can cause is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from hub import __version__, letter_send, logs, private_files, quarantine, redact, reports
from hub.app import Hub, config_path, open_hub
from hub.case_actions import ACTIONS, run_action
from hub.channels.email_parse import parse_email
from hub.channels.files import FileSource
from hub.clock import FixedClock
from hub.cycle import Cycle, run_once
from hub.errors import HubError, TemporaryError, UserError
from hub.inbox import Summary, drain
from hub.intake.commands import REGISTRY
from hub.intake.parsing import parse_workers
from hub.intake.pipeline import retry_quarantined
from hub.office import init_office
from hub.sent_record import mark_journalled
from hub.sms_poll import poll_texts
from hub.sms_text import segments
from hub.sms_webhook import serve_webhook
from hub.status import status_lines
from hub.views import case_detail, case_summary, find_case, list_cases, triage_list

EXIT_ERROR, EXIT_USAGE, EXIT_TEMPORARY = 1, 2, 75


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"hub: {message} (see `hub --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hub", description="casework-hub: the office's communications hub for casework.")
    parser.add_argument("--config", help="office configuration (default: $HUB_CONFIG, then config/hub.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (INFO) on stderr")
    parser.add_argument("--version", action="version", version=f"casework-hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    init = commands.add_parser("init", help="make a new office folder (config/, var/, database)")
    init.add_argument("dir", type=Path)
    init.add_argument("--demo", action="store_true", help="seed the Maildir inbox with demo messages")
    init.set_defaults(handler=cmd_init)

    run = commands.add_parser("run", help="run the daemon until SIGTERM (--once: one full cycle, then exit)")
    run.add_argument("--once", action="store_true", help="do one full cycle and exit")
    run.add_argument("--at", type=_iso_time, help="with --once: run as if it were this time (ISO 8601)")
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser("status", help="sources, outbox, reminders, quarantine and triage at a glance")
    status.set_defaults(handler=cmd_status)

    ingest = commands.add_parser("ingest", help="feed .eml or mbox files through the inbound path")
    ingest.add_argument("files", nargs="+", type=Path)
    ingest.add_argument("--archive", action="store_true",
                        help="old mail: file and thread it, but send nothing and apply no commands")
    ingest.set_defaults(handler=cmd_ingest)

    cases = commands.add_parser("cases", help="list cases")
    cases.add_argument("--status", help="only cases with this status")
    cases.add_argument("--json", action="store_true", help="machine-readable output")
    cases.set_defaults(handler=cmd_cases)

    case = commands.add_parser("case", help="one case").add_subparsers(dest="action", required=True,
                                                                        metavar="ACTION", parser_class=_Parser)
    show = case.add_parser("show", help="a case with its parties, messages, reminders and events")
    show.add_argument("ref")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=cmd_case_show)

    letter = commands.add_parser("letter", help="the office's letters: list, show, preview, send").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    listing = letter.add_parser("list", help="the letters there are (packaged and the office's own)")
    listing.add_argument("--sms", action="store_true", help="the text-message letters")
    listing.set_defaults(handler=cmd_letter_list)
    letter.add_parser("check", help="fill in every letter for a sample case and list the problems").set_defaults(
        handler=cmd_letter_check)
    shown = letter.add_parser("show", help="a letter's template, to copy into the office's letters folder")
    shown.add_argument("name")
    shown.add_argument("--sms", action="store_true", help="the text-message version (NAME.sms.j2)")
    shown.set_defaults(handler=cmd_letter_show)
    for name, handler, text in (("preview", cmd_letter_preview, "a letter filled in for a case, not sent"),
                                ("send", cmd_letter_send, "queue a letter for a case (sent by the next cycle)")):
        action = letter.add_parser(name, help=text)
        action.add_argument("name")
        action.add_argument("--case", required=name == "send", metavar="REF",
                            help="the case" + ("" if name == "send" else " (default: a sample case)"))
        action.add_argument("--to", metavar="WHO", help="constituent, agency or an address (default: the "
                            "constituent; the agency for agency letters)")
        if name == "send":
            action.add_argument("--force", action="store_true", help="send even if this letter went already")
        else:
            action.add_argument("--sms", action="store_true", help="the text-message version (for the sample "
                                "case; a case's own channel decides otherwise)")
        action.set_defaults(handler=handler)

    for verb in ACTIONS:
        usage = REGISTRY[verb][0]
        acting = case.add_parser(verb, help=f"{usage.lstrip(': ')} (as #{verb} by mail)")
        acting.add_argument("ref")
        acting.add_argument("words", nargs="*", metavar="ARG")
        acting.set_defaults(handler=cmd_case_action, action_name=verb)

    sms = commands.add_parser("sms", help="the office's SMS line (Twilio)").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    sms.add_parser("poll", help="read the texts received since the last poll, once").set_defaults(
        handler=cmd_sms_poll)
    sms.add_parser("webhook", help="serve Twilio's incoming-message webhook ([sms] webhook_url) until stopped"
                   ).set_defaults(handler=cmd_sms_webhook)

    triage = commands.add_parser("triage", help="messages held for a caseworker to place").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    triage_list = triage.add_parser("list", help="held messages with their reasons")
    triage_list.add_argument("--json", action="store_true", help="machine-readable output")
    triage_list.set_defaults(handler=cmd_triage_list)

    report = commands.add_parser("report", help="reports for supervisors").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    weekly = report.add_parser("weekly", help="cases opened, closed and pending, response times, workloads")
    weekly.add_argument("--week", metavar="YYYY-Www", help="an ISO week, office time (default: the last complete week)")
    weekly.add_argument("--send", action="store_true", help="queue it for the supervisors, with the CSV attached")
    weekly.set_defaults(handler=cmd_report_weekly)

    held = commands.add_parser("quarantine", help="messages the hub could not handle").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    held.add_parser("list", help="held items with their reasons").set_defaults(handler=cmd_quarantine_list)
    for name, handler, text in (("retry", cmd_quarantine_retry, "run an item through the inbound path again"),
                                ("discard", cmd_quarantine_discard, "give up on an item (kept, marked)")):
        action = held.add_parser(name, help=text)
        action.add_argument("id", type=int)
        action.set_defaults(handler=handler)
    return parser


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything is written: every file 0600 and folder 0700, in this process and those it starts.
    umask = os.umask(private_files.UMASK)
    try:
        return _main(argv)
    finally:
        os.umask(umask)  # for a caller that runs main() in its own process, as the tests do


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.handler(args) or 0)
    except TemporaryError as error:
        print(f"hub: {error} (temporary; try again later)", file=sys.stderr)
        return EXIT_TEMPORARY
    except (UserError, HubError) as error:
        print(f"hub: {error}", file=sys.stderr)
        return EXIT_ERROR
    except DBAPIError as error:
        print(f"hub: database error: {_database_reason(error)}", file=sys.stderr)
        return EXIT_TEMPORARY if isinstance(error, OperationalError) else EXIT_ERROR
    except KeyboardInterrupt:
        print("hub: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


def _database_reason(error: DBAPIError) -> str:
    """The database's own first line: no statement, no parameters, no DETAIL quoting the row's values."""
    lines = str(error.orig).strip().splitlines()
    return redact.addresses(lines[0]) if lines else type(error.orig).__name__


def _with_hub(args: argparse.Namespace, work: Callable[[Hub], Any], clock: FixedClock | None = None) -> Any:
    hub = open_hub(config_path(args.config), clock)
    try:
        return work(hub)
    finally:
        hub.close()


def cmd_init(args: argparse.Namespace) -> int:
    path = init_office(args.dir, demo=args.demo)
    print(f"made {path}")
    if args.demo:
        print(f"demo messages are waiting in the inbox; next: hub --config {path} run --once")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if not args.once:
        if args.at:
            raise UserError("--at goes with --once: the daemon runs on the real time")
        return _run_daemon(args)
    clock = FixedClock(args.at) if args.at else None
    def work(hub: Hub) -> Cycle:
        _before_running(hub)
        return run_once(hub, lambda line: print(line, flush=True))
    cycle = _with_hub(args, work, clock)
    texted = cycle.texts.new_cases if cycle.texts else []
    _print_new_cases(args, Summary(new_cases=[*texted, *cycle.inbox.new_cases]))
    return 0


def _before_running(hub: Hub) -> None:
    letter_send.check_letters(hub)
    mark_journalled(hub)  # what a killed run sent counts as sent before anything else runs
    if not hub.config.commands.require_authentication:
        logging.getLogger("hub").warning(
            "[commands] require_authentication = false: anyone who writes a staff address into From: can "
            "command the hub and send mail as the office")
    for agency in hub.config.agencies:
        if not agency.require_authentication:
            logging.getLogger("hub").warning(
                "agencies.toml: %s (%s): require_authentication = false: anyone who writes an address of its "
                "domains into From: can answer for the agency on a case", agency.name, agency.key)


def _run_daemon(args: argparse.Namespace) -> int:
    from hub.daemon import run_daemon  # here, not at the top: the scheduler is for `run` alone

    def work(hub: Hub) -> bool:
        _before_running(hub)
        return run_daemon(hub, lambda line: print(line, flush=True))
    if _with_hub(args, work):
        # A job's thread was left in a network call at the stop: what it had not committed is done again
        # at the next start.
        _leave_at_once()
    return 0


def _leave_at_once() -> None:
    """Exit 0 without waiting for threads still running."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def cmd_ingest(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> Summary:
        source = FileSource(list(args.files), hub.config.limits.max_message_bytes)
        intake = replace(hub.intake, archive=args.archive)
        with parse_workers(parse_email) as workers:
            return drain(intake, source, parse_email, workers=workers)
    summary = _with_hub(args, work)
    _print_summary(args, summary)
    return 0


SHOWN_NEW_CASES = 25


def _print_summary(args: argparse.Namespace, summary: Summary) -> None:
    print(summary.line())
    _print_new_cases(args, summary)


def _print_new_cases(args: argparse.Namespace, summary: Summary) -> None:
    if summary.new_cases:
        shown = summary.new_cases[:SHOWN_NEW_CASES]

        def rows(hub: Hub) -> list[dict[str, Any]]:
            with hub.sessions() as session:
                return [case_summary(find_case(session, hub.refs, ref)) for ref in shown]
        print("new cases:")
        _print_case_table(_with_hub(args, rows))
        if len(summary.new_cases) > len(shown):
            print(f"… and {len(summary.new_cases) - len(shown)} more (hub cases --status new)")


def cmd_sms_poll(args: argparse.Namespace) -> int:
    summary = _with_hub(args, poll_texts)
    print(summary.line().replace("messages", "texts", 1))
    _print_new_cases(args, summary)
    return 0


def cmd_sms_webhook(args: argparse.Namespace) -> int:
    if _with_hub(args, lambda hub: serve_webhook(hub, lambda line: print(line, flush=True))):
        _leave_at_once()  # a request was left at the stop: it committed nothing, polling finds its text
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    for line in _with_hub(args, status_lines):
        print(line)
    return 0


def cmd_cases(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return list_cases(session, args.status)
    found = _with_hub(args, work)
    if args.json:
        _print_json(found)
    else:
        _print_case_table(found)
    return 0


def cmd_case_show(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> dict[str, Any]:
        with hub.sessions() as session:
            return case_detail(session, find_case(session, hub.refs, args.ref))
    view = _with_hub(args, work)
    if args.json:
        _print_json(view)
        return 0
    person = view["constituent"]
    print(f"{view['ref']}  {view['status']}  {view['subject']}")
    print(f"constituent: {person['name']} <{person['email'] or '-'}> {person['phone'] or ''}".rstrip())
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


def cmd_letter_list(args: argparse.Namespace) -> int:
    channel = "sms" if args.sms else "email"
    print("\n".join(_with_hub(args, lambda hub: letter_send.letters_of(hub).names(channel))))
    return 0


def cmd_case_action(args: argparse.Namespace) -> int:
    line = _with_hub(args, lambda hub: run_action(hub, args.ref, args.action_name, " ".join(args.words)))
    print(f"{args.ref.upper()}: {line}")
    return 0


def cmd_letter_check(args: argparse.Namespace) -> int:
    problems = _with_hub(args, letter_send.letter_problems)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("every letter fills in")
    return EXIT_ERROR if problems else 0


def cmd_letter_show(args: argparse.Namespace) -> int:
    channel = "sms" if args.sms else "email"
    print(_with_hub(args, lambda hub: letter_send.letters_of(hub).source(args.name, channel)), end="")
    return 0


def cmd_letter_preview(args: argparse.Namespace) -> int:
    letter, recipient = _with_hub(args, lambda hub: letter_send.preview(hub, args.name, args.case, args.to,
                                                                        "sms" if args.sms else "email"))
    if letter.channel == "sms":
        size = segments(letter.body)
        print(f"To: {recipient}\nText: {size.count} segment(s), {size.encoding}, {size.units} characters\n\n"
              f"{letter.body}")
    else:
        print(f"To: {recipient}\nSubject: {letter.subject}\n\n{letter.body}")
    return 0


def cmd_letter_send(args: argparse.Namespace) -> int:
    row_id, recipient = _with_hub(args, lambda hub: letter_send.send(hub, args.name, args.case, args.to, args.force))
    print(f"queued {args.name} for {recipient} (outbox {row_id}); the next cycle sends it")
    return 0


def cmd_triage_list(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[dict[str, Any]]:
        with hub.sessions() as session:
            return triage_list(session)
    held = _with_hub(args, work)
    if args.json:
        _print_json(held)
    elif not held:
        print("triage is empty")
    for item in [] if args.json else held:
        near = f" (mentions {item['candidate_case']})" if item["candidate_case"] else ""
        print(f"{item['id']:>6}  {item['at'][:16]}  {item['kind']:<11} {item['sender']}  {item['subject'][:50]}")
        print(f"        {item['reason']}{near}")
    return 0


def cmd_report_weekly(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> tuple[reports.WeeklyReport, int | None]:
        report = reports.weekly_report(hub, reports.chosen_week(hub, args.week))
        return report, reports.queue_report(hub, report) if args.send else None
    report, queued = _with_hub(args, work)
    if queued is None:
        print(report.text, end="")
    else:
        print(f"queued the weekly report {report.week.label} for {queued} supervisor(s); the next cycle sends it")
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> list[str]:
        with hub.sessions() as session:
            return [f"{item.id:>5}  {item.created_at:%Y-%m-%d %H:%M}  {item.size:>9} B  {item.source}  {item.reason}"
                    + (f"\n        {where}" if (where := quarantine.whereabouts(item)) else "")
                    for item in quarantine.held_items(session)]
    lines = _with_hub(args, work)
    print("\n".join(lines) if lines else "quarantine is empty")
    return 0


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    outcome = _with_hub(args, lambda hub: retry_quarantined(hub.intake, args.id, parse_email, "cli"))
    if outcome.fate == "quarantine":
        print(f"hub: quarantine item {args.id} failed again: {outcome.reason}", file=sys.stderr)
        return EXIT_ERROR
    print(f"quarantine item {args.id}: {outcome.fate}" + (f" {outcome.case_ref}" if outcome.case_ref else ""))
    return 0


def cmd_quarantine_discard(args: argparse.Namespace) -> int:
    _with_hub(args, lambda hub: quarantine.close(hub.sessions, args.id, "discarded", "cli", hub.clock.now()))
    print(f"quarantine item {args.id}: discarded")
    return 0


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _print_case_table(cases: list[dict[str, Any]]) -> None:
    if not cases:
        print("no cases")
        return
    for view in cases:
        person = view["constituent"]
        messages = view.get("message_count")
        count = "" if messages is None else f"  ({messages} message{'' if messages == 1 else 's'})"
        print(f"{view['ref']:<16} {view['status']:<10} {(person['name'] or person['email'] or '-')[:24]:<24} "
              f"{view['subject'][:60]}{count}")

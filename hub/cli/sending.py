"""Commands on what the office sends: its letters (list, check, show, preview, queue, to a whole group) and the
weekly report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.cases import letter_send
from hub.cases.group_letters import Group, notify_group, preview_group
from hub.cli.context import EXIT_ERROR, print_json, with_hub
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.core.private_files import write_file
from hub.letters.sms_text import segments
from hub.letters.templates import Letter
from hub.reports import weekly


def cmd_letter_list(args: argparse.Namespace) -> int:
    if args.json:
        print_json(with_hub(args, lambda hub: letter_send.letters_of(hub).listing()))
        return 0
    channel = "sms" if args.sms else "email"
    print("\n".join(with_hub(args, lambda hub: letter_send.letters_of(hub).names(channel))))
    return 0


def cmd_letter_check(args: argparse.Namespace) -> int:
    problems = with_hub(args, letter_send.letter_problems)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("every letter fills in")
    return EXIT_ERROR if problems else 0


def cmd_letter_show(args: argparse.Namespace) -> int:
    channel = "sms" if args.sms else "email"
    print(with_hub(args, lambda hub: letter_send.letters_of(hub).source(args.name, channel)), end="")
    return 0


def cmd_letter_preview(args: argparse.Namespace) -> int:
    letter, recipient = with_hub(args, lambda hub: letter_send.preview(hub, args.name, args.case, args.to,
                                                                        "sms" if args.sms else "email"))
    _print_letter(letter, recipient)
    return 0


def cmd_letter_send(args: argparse.Namespace) -> int:
    row_id, recipient = with_hub(args, lambda hub: letter_send.send(hub, args.name, args.case, args.to, args.force))
    print(f"queued {args.name} for {recipient} (outbox {row_id}); the next cycle sends it")
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    group = Group(args.agency, args.label, args.status)

    def work(hub: Hub) -> int:
        shown = preview_group(hub, group, args.letter, args.text)
        if shown.letter is None:
            print(f"no case matches ({group.describe()}): nothing queued")
            return 0
        print(f"{shown.count} case(s): {group.describe()}\n")
        _print_letter(shown.letter, f"{shown.recipient} ({shown.ref}, the first)")
        if args.dry_run:
            print(f"\n(dry run: nothing queued; without --dry-run, {args.letter} goes to each of the {shown.count})")
            return 0
        outcome = notify_group(hub, group, args.letter, args.text)
        per_minute = hub.config.limits.group_letters_per_minute
        print(f"\nqueued {args.letter} on {outcome.queued} case(s), {per_minute} a minute from the next cycle")
        for reason, count in sorted(outcome.skipped.items()):
            print(f"left out {count} case(s): {reason}")
        return 0
    return int(with_hub(args, work))


def _print_letter(letter: Letter, recipient: str) -> None:
    if letter.channel == "sms":
        size = segments(letter.body)
        print(f"To: {recipient}\nText: {size.count} segment(s), {size.encoding}, {size.units} characters\n\n"
              f"{letter.body}")
    else:
        print(f"To: {recipient}\nSubject: {letter.subject}\n\n{letter.body}")


def cmd_report_weekly(args: argparse.Namespace) -> int:
    def work(hub: Hub) -> tuple[weekly.WeeklyReport, int | None]:
        report = weekly.weekly_report(hub, weekly.chosen_week(hub, args.week), drawn=args.send or bool(args.html))
        if args.html:  # before it is queued: a file that cannot be written stops both
            try:
                write_file(Path(args.html), report.page)
            except OSError as error:
                raise UserError(f"--html: cannot write {args.html}: {error.strerror}") from None
        return report, weekly.queue_report(hub, report) if args.send else None
    report, queued = with_hub(args, work)
    if queued is None and args.json:
        print_json(report.data)
    elif queued is None and args.html:
        print(f"wrote the weekly report {report.week.label} to {args.html} (one file: its charts inside it)")
    elif queued is None:
        print(report.text, end="")
    else:
        print(f"queued the weekly report {report.week.label} for {queued} supervisor(s); the next cycle sends it")
    return 0

"""The `hub` command: its arguments, and the one place a failure becomes an exit code.

Each command parses its arguments, calls one library function and prints (hub.cli.running, .casework,
.sending). Every error a person can cause is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError

from hub import __version__
from hub.cases.casework import STATUSES as CASE_STATUSES
from hub.cli.backups import cmd_backup, cmd_restore
from hub.cli.case_actions import ACTIONS
from hub.cli.casework import (
    cmd_case_action,
    cmd_case_files,
    cmd_case_merge,
    cmd_case_show,
    cmd_cases,
    cmd_quarantine_discard,
    cmd_quarantine_list,
    cmd_quarantine_retry,
    cmd_search,
)
from hub.cli.context import EXIT_ERROR, EXIT_SCHEMA, EXIT_TEMPORARY, EXIT_USAGE
from hub.cli.database import cmd_db_status, cmd_db_upgrade
from hub.cli.purge import cmd_purge
from hub.cli.records import cmd_case_export, cmd_export, cmd_import
from hub.cli.running import cmd_check, cmd_ingest, cmd_init, cmd_run, cmd_sms_poll, cmd_status, cmd_web
from hub.cli.sending import (
    cmd_letter_check,
    cmd_letter_list,
    cmd_letter_preview,
    cmd_letter_send,
    cmd_letter_show,
    cmd_notify,
    cmd_report_weekly,
)
from hub.cli.triage import cmd_triage_dismiss, cmd_triage_file, cmd_triage_list, cmd_triage_new, cmd_triage_show
from hub.core import logs, private_files, redact
from hub.core.errors import HubError, SchemaError, TemporaryError, UserError
from hub.intake.commands import REGISTRY

REF_HELP = "the case's reference, e.g. CW-26-00042-K7 (any case; brackets optional)"
LETTER_HELP = "the letter's name (hub letter list)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"hub: {message} (see `hub --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hub", description="casework-hub: the office's communications hub for casework.")
    parser.add_argument("--config", help="office configuration (default: $HUB_CONFIG, then config/hub.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (INFO) on stderr")
    parser.add_argument("--log-format", choices=logs.STYLES, default="text",
                        help="text (with journald's priorities under systemd) or json, one object a line")
    parser.add_argument("--version", action="version", version=f"casework-hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    init = commands.add_parser("init", help="make a new office folder (config/, var/, database)")
    init.add_argument("dir", type=Path, help="the office folder to make (config/, var/, letters/)")
    init.add_argument("--demo", action="store_true", help="seed the Maildir inbox with demo messages")
    init.set_defaults(handler=cmd_init)

    run = commands.add_parser("run", help="run the daemon until SIGTERM (--once: one full cycle, then exit)")
    run.add_argument("--once", action="store_true", help="do one full cycle and exit")
    run.add_argument("--at", type=_iso_time, help="with --once: run as if it were this time (ISO 8601)")
    run.add_argument("--deployment", type=Path, metavar="FILE",
                     help="run the offices this file lists, instead of --config's one (README \"Scaling out\")")
    run.add_argument("--worker", metavar="K/N", help="with --deployment: run only worker K's share of N")
    run.set_defaults(handler=cmd_run)

    commands.add_parser("web", help="serve the web app ([web] listen: Twilio's webhook, /healthz, /readyz, "
                        "/metrics) until SIGTERM, without the daemon's jobs").set_defaults(handler=cmd_web)

    status = commands.add_parser("status", help="healthy or degraded, sources, jobs, outbox, reminders, quarantine "
                                 "and triage at a glance; exit 0 healthy, 1 degraded")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)

    check = commands.add_parser("check", help="try the inbox and outbound logins (nothing sent), the database and "
                                "the SMS account; one line each")
    check.set_defaults(handler=cmd_check)

    ingest = commands.add_parser("ingest", help="feed .eml or mbox files through the inbound path")
    ingest.add_argument("files", nargs="+", type=Path, help=".eml files (one message each) or mbox files")
    ingest.add_argument("--archive", action="store_true",
                        help="old mail: file and thread it on cases dated by their messages, but send nothing, "
                             "apply no commands and schedule nothing")
    ingest.add_argument("--status", choices=CASE_STATUSES,
                        help="with --archive: the status of the cases it opens (default: closed)")
    ingest.set_defaults(handler=cmd_ingest)

    cases = commands.add_parser("cases", help="list cases (every filter given narrows the list)")
    cases.add_argument("--status", help="only cases with this status")
    cases.add_argument("--assignee", metavar="NAME", help="assigned to this caseworker (name, short name or address)")
    cases.add_argument("--agency", metavar="KEY", help="with this agency (a key from agencies.toml)")
    cases.add_argument("--label", help="carrying this label")
    cases.add_argument("--older-than", metavar="DAYS", type=_days, help="opened more than DAYS days ago")
    cases.add_argument("--overdue", action="store_true",
                       help="a follow-up, check-in or agency answer past its day and still pending")
    cases.add_argument("--waiting-on", choices=("agency", "constituent"),
                       help="pending on the agency or on the constituent")
    cases.add_argument("--json", action="store_true", help="machine-readable output")
    cases.set_defaults(handler=cmd_cases)

    search = commands.add_parser("search", help="cases whose messages, notes, constituent or agency number carry TEXT")
    search.add_argument("text", metavar="TEXT", help="words, a name, an address, a phone number or a control number")
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.set_defaults(handler=cmd_search)

    case = commands.add_parser("case", help="one case").add_subparsers(dest="action", required=True,
                                                                        metavar="ACTION", parser_class=_Parser)
    show = case.add_parser("show", help="a case with its parties, messages, reminders and events")
    show.add_argument("ref", help=REF_HELP)
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=cmd_case_show)
    files = case.add_parser("files", help="the files on a case: listed, or written out with --out")
    files.add_argument("ref", help=REF_HELP)
    files.add_argument("--out", type=Path, metavar="DIR", help="write them into DIR (made if missing)")
    files.set_defaults(handler=cmd_case_files)
    merging = case.add_parser("merge", help="fold case FROM into case INTO: its messages, events, releases and "
                              "reminders move; FROM closes and its reference threads to INTO (as #merge by mail)")
    merging.add_argument("merged", metavar="FROM", help="the case that goes (it closes as merged into INTO)")
    merging.add_argument("kept", metavar="INTO", help="the case kept")
    merging.add_argument("--force", action="store_true", help="merge even when the constituents differ")
    merging.set_defaults(handler=cmd_case_merge)
    exporting = case.add_parser("export", help="the case as a ZIP: its timeline as a PDF, every message as .eml, "
                                "its files, its rows as JSON, SHA-256 checksums")
    exporting.add_argument("ref", help=REF_HELP)
    exporting.add_argument("--out", type=Path, required=True, metavar="PATH", help="the archive to write")
    exporting.set_defaults(handler=cmd_case_export)

    export = commands.add_parser("export", help="every case of the office as one ZIP (as hub case export), for a "
                                 "transition or an archive")
    export.add_argument("--out", type=Path, required=True, metavar="PATH", help="the archive to write")
    export.set_defaults(handler=cmd_export)
    importing = commands.add_parser("import", help="read another office's export (nothing is sent; old references "
                                    "keep threading), or open cases from a CSV file with --csv")
    importing.add_argument("path", type=Path, nargs="?", metavar="PATH", help="an archive of hub export")
    importing.add_argument("--csv", type=Path, metavar="FILE", help="open cases from another system (see README)")
    importing.add_argument("--json", action="store_true", help="machine-readable summary")
    importing.set_defaults(handler=cmd_import)

    letter = commands.add_parser("letter", help="the office's letters: list, show, preview, send").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    listing = letter.add_parser("list", help="the letters there are (packaged and the office's own)")
    listing.add_argument("--sms", action="store_true", help="the text-message letters")
    listing.add_argument("--json", action="store_true", help="machine-readable: each letter's name, its channels "
                         "and those the office's own folder replaces")
    listing.set_defaults(handler=cmd_letter_list)
    letter.add_parser("check", help="fill in every letter for a sample case and list the problems").set_defaults(
        handler=cmd_letter_check)
    shown = letter.add_parser("show", help="a letter's template, to copy into the office's letters folder")
    shown.add_argument("name", help=LETTER_HELP)
    shown.add_argument("--sms", action="store_true", help="the text-message version (NAME.sms.j2)")
    shown.set_defaults(handler=cmd_letter_show)
    for name, handler, text in (("preview", cmd_letter_preview, "a letter filled in for a case, not sent"),
                                ("send", cmd_letter_send, "queue a letter for a case (sent by the next cycle)")):
        action = letter.add_parser(name, help=text)
        action.add_argument("name", help=LETTER_HELP)
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

    notify = commands.add_parser("notify", help="one letter to every open case of an agency (a shutdown, a "
                                 "disaster), spaced out by [limits] group_letters_per_minute")
    notify.add_argument("--agency", required=True, metavar="KEY", help="the agency's key in agencies.toml")
    notify.add_argument("--label", metavar="L", help="only the cases with this label")
    notify.add_argument("--status", metavar="S", help="only the cases with this status")
    notify.add_argument("--letter", required=True, metavar="NAME", help=LETTER_HELP + ", e.g. agency-delay")
    notify.add_argument("--text", default="", metavar="WORDS", help="the office's words the letter carries "
                        "(its {{ text }}), the same for every case")
    notify.add_argument("--dry-run", action="store_true", help="count the cases and show the letter filled in for "
                        "the first; queue nothing")
    notify.set_defaults(handler=cmd_notify)

    for verb in ACTIONS:
        usage = REGISTRY[verb][0]
        acting = case.add_parser(verb, help=f"{usage.lstrip(': ')} (as #{verb} by mail)")
        acting.add_argument("ref", help=REF_HELP)
        acting.add_argument("words", nargs="*", metavar="ARG", help=_words_of(usage))
        acting.set_defaults(handler=cmd_case_action, action_name=verb)

    sms = commands.add_parser("sms", help="the office's SMS line (Twilio)").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    sms.add_parser("poll", help="read the texts received since the last poll, once").set_defaults(
        handler=cmd_sms_poll)
    sms.add_parser("webhook", help="the same as `hub web` (its older name)").set_defaults(handler=cmd_web)

    triage = commands.add_parser("triage", help="messages held for a caseworker to place").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    triage_list = triage.add_parser("list", help="held messages with their reasons")
    triage_list.add_argument("--json", action="store_true", help="machine-readable output")
    triage_list.set_defaults(handler=cmd_triage_list)
    for name, handler, text, words in (
            ("show", cmd_triage_show, "one held message: why it is held, and the cases it likely belongs to", ()),
            ("file", cmd_triage_file, "file it on a case, as if it had carried the reference", ("ref",)),
            ("new", cmd_triage_new, "open a new case for its sender", ()),
            ("dismiss", cmd_triage_dismiss, "take it out of triage, with the reason", ("reason",))):
        placing = triage.add_parser(name, help=text)
        placing.add_argument("id", type=int, metavar="ID", help="the held message's number (hub triage list)")
        for word in words:
            placing.add_argument(word, nargs="+" if word == "reason" else None, metavar=word.upper(),
                                 help=REF_HELP if word == "ref" else "why, in words (kept with the message)")
        placing.set_defaults(handler=handler)

    database = commands.add_parser("db", help="the database's schema: status, upgrade").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    schema = database.add_parser("status", help="the schema's revision and this hub's; the upgrades waiting")
    schema.add_argument("--json", action="store_true", help="machine-readable output")
    schema.set_defaults(handler=cmd_db_status)
    database.add_parser("upgrade", help="upgrade the schema to this hub's (creates the tables in an empty "
                        "database); back up first").set_defaults(handler=cmd_db_upgrade)

    backup = commands.add_parser("backup", help="the office in one file (0600): database, configuration, letters, "
                                 "the sent journal; while the daemon runs")
    backup.add_argument("path", type=Path, metavar="PATH", help="the file to write (not there yet)")
    backup.set_defaults(handler=cmd_backup)
    restoring = commands.add_parser("restore", help="a backup made into a new office folder; overwrites nothing")
    restoring.add_argument("path", type=Path, metavar="PATH", help="a file `hub backup` wrote")
    restoring.add_argument("--into", type=Path, required=True, metavar="DIR", help="the office folder (new or empty)")
    restoring.add_argument("--database-url", metavar="URL", help="an empty PostgreSQL database to restore into "
                           "(default: the one the backup's hub.toml names); written into the restored hub.toml")
    restoring.set_defaults(handler=cmd_restore)

    purging = commands.add_parser("purge", help="apply [retention]: empty long-closed cases to their tombstones, "
                                  "drop old original mail (--dry-run: list what would go)")
    purging.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    purging.add_argument("--json", action="store_true", help="machine-readable output")
    purging.set_defaults(handler=cmd_purge)

    report = commands.add_parser("report", help="reports for supervisors").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    weekly = report.add_parser("weekly", help="cases opened, closed and pending, response times, workloads")
    weekly.add_argument("--week", metavar="YYYY-Www", help="an ISO week, office time (default: the last complete week)")
    weekly.add_argument("--send", action="store_true", help="queue it for the supervisors, with the CSV attached")
    weekly.add_argument("--json", action="store_true", help="machine-readable: the CSV's rows, numbers as numbers")
    weekly.add_argument("--html", metavar="FILE", help="also write it as one HTML file for a browser, with its "
                        "charts inside (data: URIs)")
    weekly.set_defaults(handler=cmd_report_weekly)

    held = commands.add_parser("quarantine", help="messages the hub could not handle").add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    held_list = held.add_parser("list", help="held items with their reasons")
    held_list.add_argument("--json", action="store_true", help="machine-readable output")
    held_list.set_defaults(handler=cmd_quarantine_list)
    for name, handler, text in (("retry", cmd_quarantine_retry, "run an item through the inbound path again"),
                                ("discard", cmd_quarantine_discard, "give up on an item (kept, marked)")):
        action = held.add_parser(name, help=text)
        action.add_argument("id", type=int, help="the item's number (hub quarantine list)")
        action.set_defaults(handler=handler)
    _config_after_the_command(parser)
    return parser


def _config_after_the_command(parser: argparse.ArgumentParser) -> None:
    """Every command takes `--config` after its own arguments too (`hub cases --config FILE`), and its
    `--help` opens with what it does (the line `hub --help` lists it with).

    Without a default of its own there, so that one given before the command stands when none comes after."""
    commands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not commands:
        parser.add_argument("--config", default=argparse.SUPPRESS,
                            help="office configuration (default: $HUB_CONFIG, then config/hub.toml)")
    for action in commands:
        said = {listed.dest: listed.help for listed in action._choices_actions}
        for name, command in action.choices.items():
            if command.description is None:
                command.description = said.get(name)
        for command in dict.fromkeys(action.choices.values()):  # each once: aliases share a parser
            _config_after_the_command(command)


def _words_of(usage: str) -> str:
    """What a case action takes, from its mail command's usage line ("14d | 2w | YYYY-MM-DD [note]: …")."""
    return "nothing more" if usage.startswith(":") else usage.split(": ")[0]


def _days(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError("expected a whole number of days, 0 or more")
    return int(text)


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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "ingest" and args.status and not args.archive:
        parser.error("--status goes with --archive: it is the status of the archive's cases")
    logs.configure(logging.INFO if args.verbose else logging.WARNING, args.log_format)
    try:
        return int(args.handler(args) or 0)
    except TemporaryError as error:
        print(f"hub: {error} (temporary; try again later)", file=sys.stderr)
        return EXIT_TEMPORARY
    except SchemaError as error:
        # Named as typed ("hub case show: …"), so that a script's log says which command stopped.
        print(f"hub {' '.join(filter(None, (args.command, getattr(args, 'action', None))))}: {error}", file=sys.stderr)
        return EXIT_SCHEMA
    except (UserError, HubError) as error:
        print(f"hub: {error}", file=sys.stderr)
        return EXIT_ERROR
    except DBAPIError as error:
        # With --verbose the traceback says where it stopped (the statement without its values: hide_parameters).
        logging.getLogger("hub").info("the database error's traceback", exc_info=error)
        print(f"hub: database error: {_database_reason(error)}{_statement_of(error)}", file=sys.stderr)
        return EXIT_TEMPORARY if isinstance(error, OperationalError) else EXIT_ERROR
    except KeyboardInterrupt:
        print("hub: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


_STATEMENT = re.compile(r"\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT\b.*?\bFROM)\s+(\w+)", re.IGNORECASE | re.DOTALL)


def _statement_of(error: DBAPIError) -> str:
    """What the failing statement did and to which table (" (INSERT INTO outbox)"), for the administrator
    who reads which work the database refused or kept waiting; never its values."""
    found = _STATEMENT.match(error.statement or "")
    if found is None:
        return f" ({error.statement.split()[0]})" if error.statement and error.statement.split() else ""
    verb = "SELECT … FROM" if found.group(1).upper().startswith("SELECT") else found.group(1).upper()
    return f" ({verb} {found.group(2)})"


def _database_reason(error: DBAPIError) -> str:
    """The database's own first line: no statement, no parameters, no DETAIL quoting the row's values."""
    lines = str(error.orig).strip().splitlines()
    return redact.addresses(lines[0]) if lines else type(error.orig).__name__

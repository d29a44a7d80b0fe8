"""Commands that run the hub: a new office, the daemon or one cycle, the web server, feeding files, the SMS
line, status."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from typing import Any

from hub.cases import letter_send
from hub.cases.views import case_summary, find_case
from hub.cli.context import EXIT_ERROR, print_case_table, print_json, with_hub
from hub.cli.offices import run_deployment
from hub.core import config as config_module
from hub.core.app import Hub, config_path
from hub.core.clock import FixedClock
from hub.core.errors import UserError
from hub.delivery.sent_record import mark_journalled
from hub.intake.drain import Summary, drain
from hub.intake.parse.email import parse_email
from hub.intake.parse.workers import parse_workers
from hub.intake.pipeline import Intake
from hub.run.check import run_checks
from hub.run.cycle import Cycle, run_once
from hub.run.office import init_office
from hub.run.status import json_of, lines_of, office_status
from hub.sources.files import FileSource
from hub.sources.sms_poll import poll_texts


def cmd_init(args: argparse.Namespace) -> int:
    path = init_office(args.dir, demo=args.demo)
    print(f"made {path}")
    if args.demo:
        print(f"demo messages are waiting in the inbox; next: hub --config {path} run --once")
    else:
        print(_NEXT_STEPS.format(config=path, agencies=path.with_name("agencies.toml")))
    return 0


_NEXT_STEPS = """next steps:
  1. edit {config}: the office, the inbox and outbound servers, the staff list
  2. edit {agencies}: each agency's congressional liaison address
  3. give the passwords in the environment the hub runs in: HUB_INBOX_PASSWORD and HUB_SMTP_PASSWORD
     (or [oauth2]: README "Microsoft 365 and Google Workspace (OAuth 2.0)")
  4. on PostgreSQL ([database] url): hub --config {config} db upgrade   makes the tables
  5. hub --config {config} check          tries the logins and the database, sends nothing
  6. hub --config {config} letter check   renders every letter with sample data
  7. hub --config {config} run --once     one cycle; then run the daemon (README: "Running as a service");
     back it up daily (README: "Upgrades and backups")"""


def cmd_run(args: argparse.Namespace) -> int:
    if args.deployment is not None:
        return run_deployment(args, _before_running)
    if args.worker:
        raise UserError("--worker goes with --deployment: it takes a share of a deployment's offices")
    if not args.once:
        if args.at:
            raise UserError("--at goes with --once: the daemon runs on the real time")
        return _run_daemon(args)
    clock = FixedClock(args.at) if args.at else None
    def work(hub: Hub) -> Cycle:
        _before_running(hub)
        return run_once(hub, lambda line: print(line, flush=True))
    cycle = with_hub(args, work, clock)
    texted = cycle.texts.new_cases if cycle.texts else []
    print_new_cases(args, Summary(new_cases=[*texted, *cycle.inbox.new_cases]))
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
    for form in hub.config.forms:
        if not form.require_authentication:
            logging.getLogger("hub").warning(
                "[[forms]] %s: require_authentication = false: anyone who writes its address into From: can open "
                "a case, and record a privacy release, in someone else's name", form.name)


def _run_daemon(args: argparse.Namespace) -> int:
    from hub.run.daemon import run_daemon  # here, not at the top: the scheduler is for `run` alone

    def work(hub: Hub) -> bool:
        _before_running(hub)
        return run_daemon(hub, lambda line: print(line, flush=True))
    if with_hub(args, work):
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
        intake = replace(Intake.of(hub), archive=args.archive, archive_status=args.status or "closed")
        with parse_workers() as workers:
            return drain(intake, source, parse_email, workers=workers)
    summary = with_hub(args, work)
    _print_summary(args, summary)
    return 0


SHOWN_NEW_CASES = 25


def _print_summary(args: argparse.Namespace, summary: Summary) -> None:
    print(summary.line())
    print_new_cases(args, summary)


def print_new_cases(args: argparse.Namespace, summary: Summary) -> None:
    if summary.new_cases:
        shown = summary.new_cases[:SHOWN_NEW_CASES]

        def rows(hub: Hub) -> list[dict[str, Any]]:
            with hub.sessions() as session:
                return [case_summary(find_case(session, hub.refs, ref)) for ref in shown]
        print("new cases:")
        print_case_table(with_hub(args, rows))
        if len(summary.new_cases) > len(shown):
            print(f"… and {len(summary.new_cases) - len(shown)} more (hub cases --status new)")


def cmd_sms_poll(args: argparse.Namespace) -> int:
    summary = with_hub(args, poll_texts)
    print(summary.line().replace("messages", "texts", 1))
    print_new_cases(args, summary)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from hub.run.web import serve_web  # here, not at the top: the web server is for `web` and `run` alone

    if with_hub(args, lambda hub: serve_web(hub, lambda line: print(line, flush=True))):
        _leave_at_once()  # a request was left at the stop: what it had not committed is done again later
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """One line per outside system; 0 only when every one answered as configured."""
    checks = run_checks(config_module.load(config_path(args.config)))
    for check in checks:
        print(check.line(), flush=True)
    return 0 if all(check.ok for check in checks) else 1


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 when healthy, 1 when degraded (hub.run.health), for a monitor."""
    status = with_hub(args, office_status)
    if args.json:
        print_json(json_of(status))
    else:
        for line in lines_of(status):
            print(line)
    return 0 if status.health.healthy else EXIT_ERROR

"""Weekly report benchmark: the report's queries over a year of casework, against a full read of the tables.

    python3 bench/report.py [--database sqlite|postgresql] [--cases N] [--weeks W] [--per-case M] [--repeat R]
                            [--seed S]

A fresh office (SQLite file, or a throwaway PostgreSQL database at the test suite's server) gets a year
of casework written with bulk inserts: N cases (default 6,000) opened evenly over the W weeks before
the tests' START (Monday 23 November 2026; default 53, so that the same week a year before has cases),
most of them closed after a few days to a few months; M messages and M outbox rows a case (default 8
each, so ~100,000 rows together: notices by the hub, replies by the caseworker), and 2 reminders a case.
Then, R times each (default 7), alternating:
  report    hub.reports.weekly.weekly_report for the last complete week (2026-W47): every query, the text,
            the CSV, the charts and the HTML, as `hub report weekly` makes them.
  queries   its queries alone: the week's figures, the year's weeks and the agencies' answers.
  baseline  one full read of the cases and outbox tables: count(*) and min/max of an unindexed time
            column in each, the least any report over these tables has to do.
It prints the best and median of each and the ratios of the medians (report and queries against the
baseline). Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, func, insert, select, text  # noqa: E402

from hub.core.app import Hub  # noqa: E402
from hub.core.models import Case, Message, Outbox, Reminder  # noqa: E402
from hub.reports.agency_answers import agency_answers  # noqa: E402
from hub.reports.figures import weekly_figures  # noqa: E402
from hub.reports.week import Week, week_containing  # noqa: E402
from hub.reports.weekly import weekly_report  # noqa: E402
from hub.reports.year import year_series  # noqa: E402
from tests.helpers import START, make_office  # noqa: E402
from tests.postgres import bench_database  # noqa: E402

STAFF = ("maria.lopez@doe.example.gov", "sam.carter@doe.example.gov", "ana.reyes@doe.example.gov",
         "lee.chen@doe.example.gov", "kim.okafor@doe.example.gov")
AGENCIES = ("ssa", "va", "uscis", "state", "irs", "cms", "usps", "opm", "hud", "dod", "army", "sba")
AREAS = ("disability", "retirement", "passport", "immigration", "veterans", "medicare", "tax", "housing",
         "mail", "military")
REMINDER_KINDS = ("agency-followup", "checkin", "followup", "nudge")
BATCH = 5_000


def build(hub: Hub, cases: int, weeks: int, per_case: int, seed: int) -> dict[str, int]:
    """A year of casework in bulk inserts; returns how many rows of each kind were written."""
    rng = random.Random(seed)
    year_start = START - timedelta(weeks=weeks)
    case_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    reminder_rows: list[dict[str, Any]] = []
    for number in range(1, cases + 1):
        opened = year_start + timedelta(seconds=rng.uniform(0, (START - year_start).total_seconds()))
        closed: datetime | None = opened + timedelta(days=rng.expovariate(1 / 45))
        if closed is not None and closed >= START:
            closed = None
        assignee = rng.choice(STAFF) if rng.random() < 0.92 else None
        labels = rng.sample(AREAS, rng.choice((0, 1, 1, 1, 2))) + (["urgent"] if rng.random() < 0.08 else [])
        case_rows.append(dict(id=number, ref=f"CW-26-{number:05d}-XX", status="closed" if closed else "open",
                              labels=labels, assignee=assignee, agency=rng.choice(AGENCIES) if rng.random() < 0.85
                              else None, subject=f"case {number}", opened_at=opened, updated_at=closed or opened,
                              closed_at=closed, contact_channel="email"))
        until = closed or START
        for index in range(per_case):
            at = opened + (until - opened) * (index / per_case) + timedelta(minutes=rng.randint(0, 600))
            message_rows.append(dict(case_id=number, direction="in" if index % 2 == 0 else "out", channel="email",
                                     kind="constituent" if index % 2 == 0 else "letter:caseworker-notification",
                                     disposition="case", dedupe_key=f"m-{number}-{index}", subject="s", body="b",
                                     full_text="b", sender="pat@example.com", recipients=["casework@doe.example.gov"],
                                     at=at, received_at=at))
            by_person = index % 3 == 2 and assignee is not None
            sent = at if at < START else None
            outbox_rows.append(dict(case_id=number, letter="relay" if by_person else "caseworker-notification",
                                    recipient="pat@example.com", message_id=f"<o-{number}-{index}@doe.example.gov>",
                                    actor=assignee if by_person else "hub", state="sent" if sent else "pending",
                                    not_before=at, created_at=at, sent_at=sent, context={}))
        for index in range(2):
            due = opened + timedelta(days=rng.randint(5, 60))
            done = closed is not None or rng.random() < 0.6
            reminder_rows.append(dict(case_id=number, kind=REMINDER_KINDS[(number + index) % 4], due_at=due,
                                      state="done" if done else "pending", created_at=opened,
                                      closed_at=min(due, until) if done else None))
    with hub.engine.begin() as connection:
        for model, rows in ((Case, case_rows), (Message, message_rows), (Outbox, outbox_rows),
                            (Reminder, reminder_rows)):
            for first in range(0, len(rows), BATCH):
                connection.execute(insert(model), rows[first:first + BATCH])
        _analyze(connection)
    return {"cases": len(case_rows), "pending": sum(1 for row in case_rows if row["closed_at"] is None),
            "messages": len(message_rows), "outbox": len(outbox_rows), "reminders": len(reminder_rows)}


def _analyze(connection: Connection) -> None:
    """Planner statistics, as a running database has them (PostgreSQL's autovacuum, SQLite's ANALYZE)."""
    connection.execute(text("ANALYZE"))


def full_read(hub: Hub) -> None:
    with hub.sessions() as session:
        session.execute(select(func.count(), func.min(Case.opened_at), func.max(Case.updated_at))).one()
        session.execute(select(func.count(), func.min(Outbox.created_at), func.max(Outbox.not_before))).one()


def queries(hub: Hub, week: Week) -> None:
    with hub.sessions() as session:
        weekly_figures(session, hub.config, week)
        year_series(session, week)
        agency_answers(session, hub.config, week)


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(args: argparse.Namespace, folder: Path, url: str) -> None:
    load = os.getloadavg()[0]
    hub = make_office(folder / "office", url)
    started = time.perf_counter()
    counts = build(hub, args.cases, args.weeks, args.per_case, args.seed)
    built = time.perf_counter() - started
    week = week_containing(START, hub.config.office.timezone).previous()
    report = weekly_report(hub, week)  # untimed: warms the connection pool and the database's cache
    reports, asked, baselines = [], [], []
    for _ in range(args.repeat):
        reports.append(timed(lambda: weekly_report(hub, week)))
        asked.append(timed(lambda: queries(hub, week)))
        baselines.append(timed(lambda: full_read(hub)))
    hub.close()
    cases_line = next(line for line in report.text.splitlines() if line.strip().startswith("pending"))
    ratio = statistics.median(reports) / statistics.median(baselines)
    asked_ratio = statistics.median(asked) / statistics.median(baselines)
    print(f"""
weekly report benchmark: {args.database}, seed {args.seed}
  machine   {os.cpu_count()} CPUs, 1-min load average up to {max(load, os.getloadavg()[0]):.1f}
  data      {counts['cases']} cases over {args.weeks} weeks ({counts['pending']} pending now), \
{counts['messages']} messages,
            {counts['outbox']} outbox rows, {counts['reminders']} reminders; written in {built:.1f} s
  report    {week.label}: best {min(reports) * 1000:7.1f} ms, median {statistics.median(reports) * 1000:7.1f} ms \
({args.repeat} runs; queries, text, CSV, charts, HTML)
  queries   best {min(asked) * 1000:7.1f} ms, median {statistics.median(asked) * 1000:7.1f} ms
  baseline  full read of cases + outbox: best {min(baselines) * 1000:7.1f} ms, median \
{statistics.median(baselines) * 1000:7.1f} ms
  ratio     report/baseline (medians) {ratio:.1f}, queries/baseline {asked_ratio:.1f}
  sanity    {' '.join(cases_line.split())} (pending at the end of {week.label}: this week, a year before)""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", type=int, default=6000)
    parser.add_argument("--weeks", type=int, default=53)
    parser.add_argument("--per-case", type=int, default=8, help="messages, and outbox rows, a case")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder, \
            bench_database(args.database, Path(folder)) as url:
        measure(args, Path(folder), url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

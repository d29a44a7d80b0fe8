"""The weekly report, on SQLite and PostgreSQL: its numbers against a hand-made office, the command, the
mail to the supervisors with its CSV, and the cycle's job that queues it once a week.

Every expected number below was worked out by hand from the rows the test writes (the comments show
the working); none comes from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.cli.main import main as hub_cli
from hub.core.app import Hub, open_hub
from hub.core.clock import Clock, FixedClock
from hub.core.db import MIGRATIONS, migrate
from hub.core.models import Case, Outbox, Reminder
from hub.delivery.deliver import deliver_due
from hub.reports.figures import CaseCounts, Ranked, Workload, weekly_figures
from hub.reports.week import parse_week
from hub.reports.weekly import queue_report, send_weekly_if_due, weekly_report
from tests.helpers import START

pytestmark = pytest.mark.integration

MARIA = "maria.lopez@doe.example.gov"
SAM = "sam.carter@doe.example.gov"
FORMER = "former.caseworker@doe.example.gov"  # an assignee no longer on the staff list


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# 2026-W47 in New York (EST, UTC-5): Monday 16 November 05:00 UTC up to Monday 23 November 05:00 UTC.
# 2025-W47: Monday 17 November 2025 05:00 UTC up to Monday 24 November 2025 05:00 UTC.
END = at(2026, 11, 23, 5)


class Office:
    """Writes cases, outbox rows and reminders straight into the database."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.count = 0

    def case(self, opened: datetime, closed: datetime | None = None, assignee: str | None = None,
             agency: str | None = None, labels: tuple[str, ...] = (), merged_into: Case | None = None) -> Case:
        self.count += 1
        case = Case(ref=f"CW-26-{self.count:05d}-XX", status="closed" if closed else "open", labels=list(labels),
                    assignee=assignee, agency=agency, subject=f"case {self.count}", opened_at=opened,
                    updated_at=closed or opened, closed_at=closed,
                    merged_into_id=merged_into.id if merged_into else None)
        self.session.add(case)
        self.session.flush()
        return case

    def sent(self, case: Case, actor: str, sent_at: datetime | None, state: str = "sent",
             letter: str = "relay") -> None:
        self.count += 1
        self.session.add(Outbox(case_id=case.id, letter=letter, recipient="pat@example.com", actor=actor,
                                message_id=f"<out-{self.count}@doe.example.gov>", state=state, sent_at=sent_at,
                                not_before=sent_at or START, created_at=(sent_at or START) - timedelta(minutes=1)))

    def reminder(self, case: Case, kind: str, due: datetime, state: str = "pending",
                 closed: datetime | None = None) -> None:
        self.session.add(Reminder(case_id=case.id, kind=kind, due_at=due, state=state, closed_at=closed,
                                  created_at=due - timedelta(days=10)))


def fill(hub: Hub) -> None:
    """The hand-made office. Ages are whole days from opening to END (23 Nov 05:00 UTC)."""
    with hub.sessions.begin() as session:
        office = Office(session)
        # A: opened Mon 16 Nov 01:00 New York: this week. Pending, age 6 (6 d 23 h).
        a = office.case(at(2026, 11, 16, 6), assignee=MARIA, agency="ssa", labels=("disability", "urgent"))
        office.sent(a, MARIA, at(2026, 11, 17, 6))     # first response: 24 h after opening
        office.sent(a, MARIA, at(2026, 11, 18, 6))     # a later one does not count
        # B: opened Sun 15 Nov 23:30 New York: last week, though already Monday in UTC. Pending, age 7.
        b = office.case(at(2026, 11, 16, 4, 30), assignee=MARIA, agency="ssa", labels=("disability",))
        office.sent(b, "hub", at(2026, 11, 16, 4, 31), letter="acknowledgement")  # automatic: not a response
        office.sent(b, MARIA, at(2026, 11, 18, 16, 30))  # first response: 16 Nov 04:30 -> 18 Nov 16:30 = 60 h
        # C: opened Sun 22 Nov 23:59 New York: this week's last minute. Pending, age 0, never answered.
        c = office.case(at(2026, 11, 23, 4, 59), assignee=SAM, agency="va", labels=("passport",))
        office.sent(c, "hub", at(2026, 11, 23, 5), letter="acknowledgement")
        # D: opened Mon 23 Nov 00:00 New York: next week; counts nowhere.
        office.case(END, assignee=SAM, agency="va", labels=("passport",))
        # E: opened and closed this week.
        e = office.case(at(2026, 11, 18, 15), closed=at(2026, 11, 20, 15), assignee=MARIA, agency="ssa",
                        labels=("passport",))
        office.sent(e, MARIA, at(2026, 11, 19, 3))     # first response: 18 Nov 15:00 -> 19 Nov 03:00 = 12 h
        # F: opened in August, closed this week.
        office.case(at(2026, 8, 1), closed=at(2026, 11, 19), agency="irs")
        # G: opened 1 Oct 12:00: pending, age 52 (31 days of October + 22 of November - 7 h), answered in October.
        g = office.case(at(2026, 10, 1), assignee=SAM, agency="va", labels=("veterans",))
        office.sent(g, SAM, at(2026, 10, 2))
        # H: opened 1 Jul: pending, age 144 (31 + 31 + 30 + 31 + 22 days - 7 h), unassigned, never answered.
        h = office.case(at(2026, 7, 1))
        office.sent(h, MARIA, None, state="failed")    # not sent: not a response
        # I: opened 1 Mar: pending, age 266 (31+30+31+30+31+31+30+31+22 days - 7 h), answered in March.
        i = office.case(at(2026, 3, 1), assignee=MARIA, agency="ssa", labels=("disability",))
        office.sent(i, MARIA, at(2026, 3, 2))
        office.sent(i, MARIA, at(2026, 11, 20))        # answered again this week: not a first response
        # J: opened 1 Sep, closed after the week: pending at its end, age 82 (30 + 31 + 22 days - 7 h).
        j = office.case(at(2026, 9, 1), closed=at(2026, 11, 24), assignee=SAM, agency="va")
        office.sent(j, "hub", at(2026, 9, 1, 13), letter="acknowledgement")
        office.sent(j, SAM, None, state="suppressed")  # held back, never sent
        office.sent(j, SAM, at(2026, 11, 23, 6))       # sent after the week: J was not answered by END
        # N: the same problem opened twice this week and merged into A: a duplicate counts nowhere.
        n = office.case(at(2026, 11, 17), closed=at(2026, 11, 19), assignee=MARIA, agency="ssa",
                        labels=("disability",), merged_into=a)
        office.reminder(n, "agency-followup", at(2026, 11, 18), "cancelled", at(2026, 11, 19))
        # O: opened in October and merged into G only after the week: pending at its end, it still counts nowhere.
        office.case(at(2026, 10, 5), closed=at(2026, 11, 24), assignee=SAM, agency="va", merged_into=g)
        # K: opened and closed before the week: counts nowhere.
        office.case(at(2026, 11, 10), closed=at(2026, 11, 13), agency="ssa")
        # M1-M4: opened 2 Nov 12:00: pending, age 20 (20 d 17 h); one agency each; answered 3 Nov.
        for agency in ("cms", "uscis", "state", "usps"):
            m = office.case(at(2026, 11, 2), assignee=FORMER, agency=agency)
            office.sent(m, FORMER, at(2026, 11, 3))
        # Last year's week. L1: opened and closed in it. L2: opened Sun 23 Nov 2025 23:00 New York, pending.
        office.case(at(2025, 11, 18), closed=at(2025, 11, 21))
        office.case(at(2025, 11, 24, 4), closed=at(2026, 1, 10))
        # L3: closed Sun 16 Nov 2025 23:00 New York, the week before. L4: opened in October 2025, pending.
        office.case(at(2025, 6, 1), closed=at(2025, 11, 17, 4))
        office.case(at(2025, 10, 1), closed=at(2026, 2, 1))
        # Reminders.
        office.reminder(a, "agency-followup", at(2026, 11, 20))                  # overdue: Maria
        office.reminder(i, "checkin", at(2026, 11, 1), "done", at(2026, 11, 24))  # done after END: overdue: Maria
        office.reminder(i, "followup", at(2026, 11, 10), "done", at(2026, 11, 15))  # done before END
        office.reminder(b, "followup", at(2026, 11, 25))                          # due after END
        office.reminder(b, "nudge", at(2026, 11, 18))                             # not a kind that counts
        office.reminder(g, "agency-followup", at(2026, 11, 19))                   # overdue: Sam
        office.reminder(g, "checkin", at(2026, 11, 19), "cancelled", at(2026, 11, 21))  # cancelled before END
        office.reminder(e, "agency-followup", at(2026, 11, 19))                   # on a closed case
        office.reminder(h, "checkin", at(2026, 11, 22))                           # overdue: unassigned
        office.reminder(j, "followup", END)                                       # due at END, not before


def test_the_figures_of_a_hand_made_week(hub: Hub) -> None:
    fill(hub)
    with hub.sessions() as session:
        figures = weekly_figures(session, hub.config, parse_week("2026-W47", "America/New_York"))
    # Opened: A, C, E (not B, opened before Monday 00:00 New York; not D). Closed: E, F. Pending: A B C G H I J
    # and M1-M4.
    assert figures.counts == CaseCounts(opened=3, closed=2, pending=11)
    # 2025-W47: opened L1, L2; closed L1 (not L3, closed the Sunday before); pending L2, L4.
    assert figures.last_year.label == "2025-W47"
    assert figures.counts_last_year == CaseCounts(opened=2, closed=1, pending=2)
    # Ages 0 6 7 20 20 20 20 52 82 144 266: the sixth of eleven is 20.
    assert figures.median_age_days == 20.0
    assert figures.ages == (("0-30", 7), ("31-60", 1), ("61-90", 1), ("91-180", 1), ("over 180", 1))
    # First responses this week: E 12 h, A 24 h, B 60 h.
    assert (figures.first_responses, figures.median_response_hours) == (3, 24.0)
    # Pending and not answered by END: C, H, J.
    assert figures.pending_without_response == 3
    # SSA: A B I pending, A E opened; VA: C G J pending, C opened; then four agencies with one pending case
    # each, in name order, the fifth of which (United States Postal Service) does not make the top five.
    assert figures.agencies == (
        Ranked("Social Security Administration", 3, 2), Ranked("Department of Veterans Affairs", 3, 1),
        Ranked("Centers for Medicare & Medicaid Services", 1, 0),
        Ranked("Department of State, Passport Services and Consular Affairs", 1, 0),
        Ranked("U.S. Citizenship and Immigration Services", 1, 0))
    # disability: A B I pending, A opened; passport: C pending, C E opened; veterans: G. "urgent" is no area.
    assert figures.issue_areas == (Ranked("disability", 3, 1), Ranked("passport", 1, 2), Ranked("veterans", 1, 0))
    # Open: FORMER M1-M4; Maria A B I; Sam C G J; unassigned H. Overdue: Maria A's follow-up and I's check-in
    # (done only after END); Sam G's follow-up; unassigned H's check-in.
    assert figures.workloads == (Workload(FORMER, 4, 0), Workload("Maria Lopez", 3, 2), Workload("Sam Carter", 3, 1),
                                 Workload("unassigned", 1, 1))


def test_an_empty_office_has_a_report_too(hub: Hub) -> None:
    with hub.sessions() as session:
        figures = weekly_figures(session, hub.config, parse_week("2026-W47", "America/New_York"))
    assert figures.counts == figures.counts_last_year == CaseCounts(0, 0, 0)
    assert figures.median_age_days is None and figures.median_response_hours is None
    assert figures.agencies == figures.issue_areas == ()
    assert figures.workloads == (Workload("Maria Lopez", 0, 0), Workload("Sam Carter", 0, 0),
                                 Workload("unassigned", 0, 0))


@pytest.fixture
def cli(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The office's config for `hub` commands, which see the test's clock (START) instead of the real one."""
    monkeypatch.setattr("hub.cli.context.open_hub", lambda path, clock=None: open_hub(path, clock or FixedClock(START)))
    yield hub.config.path


def test_the_command_prints_last_weeks_report(hub: Hub, cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(hub)
    assert hub_cli(["--config", str(cli), "report", "weekly"]) == 0  # START is Monday 23 Nov: last week is W47
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "Weekly casework report, 2026-W47 (November 16–22, 2026)" and err == ""
    words = [line.split() for line in lines]
    assert ["opened", "3", "2"] in words and ["closed", "2", "1"] in words and ["pending", "11", "2"] in words
    assert ["median", "age", "in", "days", "20.0"] in words and ["over", "180", "days", "1"] in words
    assert ["median", "hours", "from", "opening", "24.0"] in words
    assert ["Social", "Security", "Administration", "3", "2"] in words
    assert ["Maria", "Lopez", "3", "2"] in words and ["unassigned", "1", "1"] in words
    assert hub_cli(["--config", str(cli), "report", "weekly", "--week", "2025-W47"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("Weekly casework report, 2025-W47 (November 17–23, 2025)\n")
    assert ["opened", "2", "0"] in [line.split() for line in out.splitlines()]  # L1, L2; 2024-W47 had none
    assert hub_cli(["--config", str(cli), "report", "weekly", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["week"], report["start"], report["end"]) == ("2026-W47", "2026-11-16", "2026-11-22")
    assert report["same_week_last_year"] == "2025-W47"
    rows = {(row["section"], row["item"], row["measure"]): (row["this_week"], row["same_week_last_year"])
            for row in report["rows"]}
    assert rows[("cases", "all", "opened")] == (3, 2) and rows[("cases", "all", "pending")] == (11, 2)
    assert rows[("age", "all", "median_days")] == (20.0, None)
    assert rows[("caseworker", "Maria Lopez", "open")] == (3, None), "the same rows as the CSV, as numbers"


@pytest.mark.parametrize(("week", "problem"), [
    ("2026-W60", "hub: --week: 2026 has ISO weeks W01 to W53, not W60"),
    ("2025-W53", "hub: --week: 2025 has ISO weeks W01 to W52, not W53"),
    ("last", "hub: --week: expected an ISO week such as 2026-W47, got 'last'"),
    ("2026-W48", "hub: --week: 2026-W48 is not over yet (it ends Sunday November 29 at midnight, office time)"),
])
def test_a_bad_week_is_one_line(cli: Path, capsys: pytest.CaptureFixture[str], week: str, problem: str) -> None:
    assert hub_cli(["--config", str(cli), "report", "weekly", "--week", week]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == problem + "\n"


def supervised(hub: Hub) -> Hub:
    """The same office reopened with both caseworkers marked supervisor."""
    hub.close()
    text = hub.config.path.read_text().replace("supervisor = false", "supervisor = true", 1)
    hub.config.path.write_text(text.replace(f'email = "{SAM}"', f'email = "{SAM}"\nsupervisor = true', 1))
    return open_hub(hub.config.path, hub.clock)


def test_send_queues_one_mail_per_supervisor_with_the_csv(hub: Hub, cli: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fill(hub)
    office = supervised(hub)
    assert office.config.supervisors == (MARIA, SAM)
    assert hub_cli(["--config", str(cli), "report", "weekly", "--send"]) == 0
    out, _ = capsys.readouterr()
    assert out == "queued the weekly report 2026-W47 for 2 supervisor(s); the next cycle sends it\n"
    assert deliver_due(office).counts == {"sent": 2}
    sent = [message_from_bytes(raw.as_bytes(), policy=policy.default)
            for raw in mailbox.Maildir(office.config.resolve("var/sent"), create=False)]
    assert sorted(str(mail["To"]) for mail in sent) == [MARIA, SAM]
    for mail in sent:
        assert isinstance(mail, EmailMessage)
        assert mail["Subject"] == "Weekly casework report, 2026-W47 (November 16–22, 2026)"
        assert mail["Auto-Submitted"] == "auto-generated"
        body = mail.get_body(("plain",))
        assert body is not None and "Top issue areas" in body.get_content()
        [attached] = list(mail.iter_attachments())
        assert attached.get_filename() == "casework-report-2026-W47.csv"
        assert attached.get_content_type() == "text/csv"
        payload = attached.get_payload(decode=True)
        assert isinstance(payload, bytes)
        rows = list(csv.reader(io.StringIO(payload.decode("utf-8"))))
        assert rows[0] == ["section", "item", "measure", "this_week", "same_week_last_year"]
        table = {tuple(row[:3]): row[3:] for row in rows[1:]}
        assert table["week", "iso_week", "label"] == ["2026-W47", "2025-W47"]
        assert table["cases", "all", "opened"] == ["3", "2"]
        assert table["cases", "all", "pending"] == ["11", "2"]
        assert table["first_response", "all", "median_hours"] == ["24.0", ""]
        assert table["caseworker", "Sam Carter", "overdue_reminders"] == ["1", ""]
        assert table["issue_area", "passport", "opened"] == ["2", ""]
    office.close()


def clock_of(hub: Hub) -> FixedClock:
    clock: Clock = hub.clock
    assert isinstance(clock, FixedClock)
    return clock


def report_rows(hub: Hub) -> list[tuple[str, str, datetime]]:
    with hub.sessions() as session:
        return [(row.recipient, row.subject or "", row.created_at) for row in session.scalars(
            select(Outbox).where(Outbox.letter == "weekly-report").order_by(Outbox.id))]


def with_a_case(hub: Hub) -> Hub:
    """An office with some history: one case opened in January."""
    with hub.sessions.begin() as session:
        Office(session).case(at(2026, 1, 5))
    return hub


def test_a_new_office_gets_no_report_of_weeks_before_its_first_case(hub: Hub) -> None:
    clock_of(hub).at = at(2026, 11, 23, 12)  # Monday 07:00 New York
    assert send_weekly_if_due(hub) is None
    assert report_rows(hub) == []
    with hub.sessions.begin() as session:
        Office(session).case(at(2026, 11, 22, 12))  # the first case, opened last Sunday
    assert send_weekly_if_due(hub) == "weekly report 2026-W47 queued for 1 supervisor(s)"


def test_the_cycle_queues_the_report_once_at_the_report_time(hub: Hub) -> None:
    clock = clock_of(with_a_case(hub))
    clock.at = at(2026, 11, 23, 11, 59)  # Monday 06:59 in New York: the report is due at 07:00
    assert send_weekly_if_due(hub) is None
    clock.at = at(2026, 11, 23, 12, 0)   # 07:00 New York
    assert send_weekly_if_due(hub) == "weekly report 2026-W47 queued for 1 supervisor(s)"
    assert send_weekly_if_due(hub) is None
    clock.advance(timedelta(hours=30))   # any later cycle of the week
    assert send_weekly_if_due(hub) is None
    assert [(to, subject) for to, subject, _ in report_rows(hub)] == [
        (MARIA, "Weekly casework report, 2026-W47 (November 16–22, 2026)")]
    clock.at = at(2026, 11, 30, 12, 0)   # the next Monday 07:00: the next week's report
    assert send_weekly_if_due(hub) == "weekly report 2026-W48 queued for 1 supervisor(s)"
    assert send_weekly_if_due(hub) is None
    assert len(report_rows(hub)) == 2


def test_a_hub_that_was_down_over_the_report_time_sends_it_once_when_back(hub: Hub) -> None:
    clock = clock_of(with_a_case(hub))
    clock.at = at(2026, 11, 20, 18)       # Friday of W47: W46's report is due (since Monday 07:00), W47's not yet
    assert send_weekly_if_due(hub) == "weekly report 2026-W46 queued for 1 supervisor(s)"
    assert send_weekly_if_due(hub) is None
    clock.at = at(2026, 11, 25, 15)       # down until Wednesday of W48, two days after W47's report time
    assert send_weekly_if_due(hub) == "weekly report 2026-W47 queued for 1 supervisor(s)"
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        assert send_weekly_if_due(hub) is None
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == 2
    assert [(subject, created) for _, subject, created in report_rows(hub)] == [
        ("Weekly casework report, 2026-W46 (November 9–15, 2026)", at(2026, 11, 20, 18)),
        ("Weekly casework report, 2026-W47 (November 16–22, 2026)", at(2026, 11, 25, 15))]


def test_a_report_sent_by_hand_before_the_report_time_does_not_stop_the_scheduled_one(hub: Hub) -> None:
    clock = clock_of(with_a_case(hub))
    clock.at = at(2026, 11, 23, 6)        # Monday 01:00 New York: W47 is over, its report not yet due
    with hub.sessions.begin() as session:  # what `--send` queued an hour earlier
        session.add(Outbox(letter="weekly-report", recipient=MARIA, message_id="<early@doe.example.gov>",
                           subject="Weekly casework report, 2026-W47 (November 16–22, 2026)", state="sent",
                           not_before=at(2026, 11, 23, 5), created_at=at(2026, 11, 23, 5)))
    assert send_weekly_if_due(hub) is None
    clock.at = at(2026, 11, 23, 12)
    assert send_weekly_if_due(hub) == "weekly report 2026-W47 queued for 1 supervisor(s)"
    assert len(report_rows(hub)) == 2


def test_a_report_queued_before_the_upgrade_is_not_queued_again_after_it(hub: Hub) -> None:
    clock = clock_of(with_a_case(hub))
    clock.at = at(2026, 11, 23, 12)       # Monday 07:00 New York: W47's report is due
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(MIGRATIONS))
    alembic.attributes["engine"] = hub.engine
    report = weekly_report(hub, parse_week("2026-W47", hub.config.office.timezone))  # today's code, today's tables
    command.downgrade(alembic, "0013")    # before sendings were claimed in periodic_sends
    queue_report(hub, report)

    migrate(hub.engine)

    assert send_weekly_if_due(hub) is None
    assert len(report_rows(hub)) == 1
    clock.at = at(2026, 11, 30, 12)       # the next week's report goes as before
    assert send_weekly_if_due(hub) == "weekly report 2026-W48 queued for 1 supervisor(s)"

"""The caseworkers' Monday digest, from `hub run --once --at …` to the mail at a real SMTP server, on SQLite
and PostgreSQL: each caseworker with open cases gets one mail on Monday from the digest time, listing what
is overdue, what falls due this week and their open cases; a second run the same Monday, a Tuesday, or a
caseworker whose cases are all closed gets nothing; `caseworker_digest = false` turns it off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases import reminders
from hub.cases.due_dates import AGENCY_FOLLOWUP, CASEWORKER_FOLLOWUP
from hub.cli.main import main as hub_cli
from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Case, PeriodicSend
from hub.schedule.caseworker_digest import JOB
from tests.integration.test_commands import MARIA, SAM, command, new_case, open_office, subject, text_of
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration
SUNDAY = datetime(2026, 11, 22, 15, tzinfo=UTC)       # 10:00 in New York, the office's time zone
MONDAY_0759 = datetime(2026, 11, 23, 12, 59, tzinfo=UTC)
MONDAY_0800 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
TUESDAY_0800 = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
NEXT_MONDAY_0800 = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = open_office(tmp_path / "office", database_url, smtp, caseworker_digest=True)
    yield hub
    hub.close()


def run_at(hub: Hub, moment: datetime) -> None:
    assert hub_cli(["--config", str(hub.config.path), "run", "--once", "--at", moment.isoformat()]) == 0


def digests(smtp: SmtpServer, address: str) -> list[CapturedMessage]:
    return [sent for sent in smtp.sent_to(address) if subject(sent).startswith("Your cases, week of")]


def sections(mail: CapturedMessage) -> dict[str, list[str]]:
    """The digest's lists by their titles without the count: {"Overdue": [lines], …}."""
    found = {}
    for block in text_of(mail).split("\n\n"):
        title, *lines = block.strip("\n").splitlines()
        if title.endswith(")") and " (" in title:
            found[title.rsplit(" (", 1)[0]] = [line.strip() for line in lines]
    return found


def cases_of_maria_and_sam(hub: Hub, smtp: SmtpServer) -> tuple[str, str]:
    """On Sunday: Maria's pension and visa cases (the visa one with her follow-up on Wednesday); Sam's case,
    closed. Returns the pension and visa references."""
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.at = SUNDAY
    pension = new_case(hub, body="My pension stopped in March.", sender="Pat Example <pat@example.com>",
                       subject="Pension").ref
    visa = new_case(hub, body="The visa for my mother is late.", sender="Lee Sample <lee@example.org>",
                    subject="Visa").ref
    closed = new_case(hub, body="My passport came, thank you.", sender="Kim <kim@example.net>",
                      subject="Passport").ref
    command(hub, smtp, pension, "#assign maria\n#agency ssa")
    command(hub, smtp, visa, "#assign maria\n#followup 2026-11-25 call the consulate")
    command(hub, smtp, closed, "#assign sam\n#close resolved")
    return pension, visa


def test_each_caseworker_with_open_cases_gets_one_digest_on_monday(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    pension, visa = cases_of_maria_and_sam(hub, smtp)
    run_at(hub, MONDAY_0759)
    assert digests(smtp, MARIA) == []
    with hub.sessions.begin() as session:
        connection = session.connection()
        case_id = session.scalar(select(Case.id).where(Case.ref == pension))
        assert case_id is not None
        # Past its day and still pending, as the sweep finds it when it comes (the digest goes first): overdue.
        reminders.add(connection, case_id, CASEWORKER_FOLLOWUP, datetime(2026, 11, 20, 14, tzinfo=UTC), SUNDAY,
                      note="ring Pat back", owner=MARIA)
        # When the agency's answer is due: the follow-up the inquiry set (hub.cases.reminders).
        reminders.add(connection, case_id, AGENCY_FOLLOWUP, datetime(2026, 11, 27, 14, tzinfo=UTC), SUNDAY)
    run_at(hub, MONDAY_0800)
    [digest] = digests(smtp, MARIA)
    assert subject(digest) == "Your cases, week of November 23: 2 open, 1 overdue, 2 due this week"
    assert str(digest.message["Auto-Submitted"]) == "auto-generated"
    lists = sections(digest)
    assert lists["Overdue"] == [f"{pension}  Fri Nov 20 (3 days ago)  your follow-up: ring Pat back  (Pat Example)"]
    assert lists["Due this week"] == [
        f"{visa}  Wed Nov 25  your follow-up: call the consulate  (Lee Sample)",
        f"{pension}  Fri Nov 27  answer due from Social Security Administration  (Pat Example)"]
    assert lists["Your open cases"] == [
        f"{pension}  Pat Example  Social Security Administration  open  1 day old",
        f"{visa}  Lee Sample  no agency  open  1 day old"]
    assert digests(smtp, SAM) == []  # his only case is closed

    for later in (MONDAY_0800 + timedelta(minutes=1), MONDAY_0800 + timedelta(hours=9)):
        run_at(hub, later)  # more cycles the same Monday, each a new process as after a restart
    run_at(hub, TUESDAY_0800)
    assert len(digests(smtp, MARIA)) == 1 and digests(smtp, SAM) == []
    with hub.sessions() as session:
        assert session.scalars(select(PeriodicSend.recipient).where(PeriodicSend.job == JOB)).all() == [MARIA]

    run_at(hub, NEXT_MONDAY_0800)  # the next Monday, the hub down since Tuesday: last week's dates are overdue
    assert len(digests(smtp, MARIA)) == 2
    assert subject(digests(smtp, MARIA)[-1]) == "Your cases, week of November 30: 2 open, 2 overdue, 0 due this week"
    assert [line.split("  ")[1] for line in sections(digests(smtp, MARIA)[-1])["Overdue"]] == [
        "Wed Nov 25 (5 days ago)", "Fri Nov 27 (3 days ago)"]


def test_no_digest_on_a_tuesday_nor_when_turned_off(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    cases_of_maria_and_sam(hub, smtp)
    run_at(hub, TUESDAY_0800)  # the hub was down all Monday: that week has no digest
    assert digests(smtp, MARIA) == []
    config = hub.config.path
    config.write_text(config.read_text().replace("caseworker_digest = true", "caseworker_digest = false", 1))
    run_at(hub, NEXT_MONDAY_0800)
    assert digests(smtp, MARIA) == []

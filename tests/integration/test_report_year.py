"""The weekly report's new figures, on SQLite and PostgreSQL: the year of weeks beside the year before it, the
agencies' days to answer against their standards, and the answers overdue at the end of the week.

Every expected number was worked out by hand from the rows written here (the comments show the working).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from hub.core.app import Hub
from hub.core.models import Message
from hub.reports.agency_answers import AnswerTime, OverdueAnswer, agency_answers
from hub.reports.week import parse_week
from hub.reports.year import year_series
from tests.integration.test_reports import MARIA, Office, at

pytestmark = pytest.mark.integration

W47 = parse_week("2026-W47", "America/New_York")  # up to Monday 23 November 2026 05:00 UTC


def test_a_year_of_weeks_beside_the_year_before(hub: Hub) -> None:
    with hub.sessions.begin() as session:
        office = Office(session)
        a = office.case(at(2026, 11, 18), closed=at(2026, 11, 20))       # 2026-W47 opened and closed
        office.case(at(2026, 1, 5))                                       # 2026-W02 opened
        office.case(at(2025, 12, 1), closed=at(2026, 3, 2))               # 2025-W49 opened, 2026-W10 closed
        office.case(at(2025, 11, 24, 4))  # Sunday 23 Nov 2025 23:00 New York: 2025-W47, the year before's last
        office.case(at(2024, 11, 26))                                     # 2024-W48: the year before's first
        office.case(at(2024, 11, 20))                                     # 2024-W47: in neither year
        office.case(at(2026, 11, 19), merged_into=a)                      # a duplicate counts nowhere
    with hub.sessions() as session:
        series = year_series(session, W47)
    assert len(series.weeks) == len(series.last_year) == 52
    assert (series.weeks[0].week.label, series.weeks[-1].week.label) == ("2025-W48", "2026-W47")
    assert (series.last_year[0].week.label, series.last_year[-1].week.label) == ("2024-W48", "2025-W47")
    now = {row.week.label: (row.opened, row.closed) for row in series.weeks if row.opened or row.closed}
    assert now == {"2026-W47": (1, 1), "2026-W02": (1, 0), "2025-W49": (1, 0), "2026-W10": (0, 1)}
    before = {row.week.label: (row.opened, row.closed) for row in series.last_year if row.opened or row.closed}
    assert before == {"2025-W47": (1, 0), "2024-W48": (1, 0)}


def answer(session: Session, case_id: int, received: datetime, kind: str = "agency") -> None:
    """Mail on the case as intake files it: the agency's (kind agency) or anyone else's."""
    session.add(Message(case_id=case_id, direction="in", channel="email", kind=kind, disposition="case",
                        dedupe_key=f"answer-{case_id}-{received.isoformat()}-{kind}", sender="liaison@ssa.gov",
                        at=received, received_at=received))


def test_days_to_answer_and_overdue_answers(hub: Hub) -> None:
    with hub.sessions.begin() as session:
        office = Office(session)
        # SSA: 20 calendar days, then 30 (interim). S1: inquiry 1 Oct, answered 11 Oct: 10 days.
        s1 = office.case(at(2026, 9, 30), assignee=MARIA, agency="ssa")
        office.sent(s1, MARIA, at(2026, 10, 1), letter="agency-inquiry")
        answer(session, s1.id, at(2026, 10, 11))
        # S2: inquiry 1 Sep, answered 21 Sep (20 days) and again in October (not its first answer); mail from
        # the constituent before that is no answer.
        s2 = office.case(at(2026, 8, 30), agency="ssa")
        office.sent(s2, MARIA, at(2026, 9, 1), letter="agency-inquiry")
        answer(session, s2.id, at(2026, 9, 5), kind="constituent")
        answer(session, s2.id, at(2026, 9, 21))
        answer(session, s2.id, at(2026, 10, 20))
        # S3: inquiry 1 Sep, answered only after the week: overdue since 21 Sep; 21 Sep to 22 Nov is 62 days,
        # overdue on 63 of them.
        s3 = office.case(at(2026, 8, 30), assignee=MARIA, agency="ssa")
        office.sent(s3, MARIA, at(2026, 9, 1), letter="agency-inquiry")
        answer(session, s3.id, at(2026, 11, 24))
        # S4: inquiry 10 Nov: due 30 Nov, not overdue yet.
        s4 = office.case(at(2026, 11, 9), agency="ssa")
        office.sent(s4, MARIA, at(2026, 11, 10), letter="agency-inquiry")
        # S5: inquiry 1 Aug, answered 15 Aug (14 days); a follow-up 1 Oct not answered: due 31 Oct (interim 30),
        # overdue 31 Oct to 22 Nov, 23 days.
        s5 = office.case(at(2026, 7, 30), agency="ssa")
        office.sent(s5, MARIA, at(2026, 8, 1), letter="agency-inquiry")
        answer(session, s5.id, at(2026, 8, 15))
        office.sent(s5, "hub", at(2026, 10, 1), letter="agency-followup")
        # S6: unanswered but closed before the week ended; S7 a merged duplicate: neither is overdue.
        office.case(at(2026, 8, 30), closed=at(2026, 11, 1), agency="ssa")
        s6 = office.case(at(2026, 8, 30), closed=at(2026, 11, 1), agency="ssa")
        office.sent(s6, MARIA, at(2026, 9, 1), letter="agency-inquiry")
        s7 = office.case(at(2026, 8, 30), agency="ssa", merged_into=s1)
        office.sent(s7, MARIA, at(2026, 9, 1), letter="agency-inquiry")
        # S8: answered more than 52 weeks before the week's end: not in the year.
        s8 = office.case(at(2025, 10, 1), closed=at(2025, 12, 1), agency="ssa")
        office.sent(s8, MARIA, at(2025, 10, 2), letter="agency-inquiry")
        answer(session, s8.id, at(2025, 10, 4))
        # IRS: 20 business days. I1: inquiry Monday 2 Nov, answered Friday 13 Nov: the business days after
        # 2 Nov up to 13 Nov are 3 4 5 6 9 10 12 13 (11 Nov is Veterans Day): 8.
        i1 = office.case(at(2026, 11, 1), agency="irs")
        office.sent(i1, MARIA, at(2026, 11, 2), letter="agency-inquiry")
        answer(session, i1.id, at(2026, 11, 13))
    with hub.sessions() as session:
        answers = agency_answers(session, hub.config, W47)
    # SSA 10, 20, 14: median 14 of 20 (0.7); IRS 8 of 20 (0.4): SSA is the slower against its standard.
    assert answers.times == (AnswerTime("Social Security Administration", 3, 14.0, 20, False),
                             AnswerTime("IRS Taxpayer Advocate Service", 1, 8.0, 20, True))
    assert answers.overdue == (
        OverdueAnswer(s3.ref, "Social Security Administration", "Maria Lopez", date(2026, 9, 1), date(2026, 9, 21),
                      63),
        OverdueAnswer(s5.ref, "Social Security Administration", "", date(2026, 10, 1), date(2026, 10, 31), 23))


def test_an_office_without_agency_mail_has_nothing_to_show(hub: Hub) -> None:
    with hub.sessions() as session:
        answers = agency_answers(session, hub.config, W47)
        series = year_series(session, W47)
    assert answers.times == answers.overdue == ()
    assert all(row.opened == row.closed == 0 for row in (*series.weeks, *series.last_year))
    assert series.weeks[-1].week.end - series.weeks[0].week.start == timedelta(weeks=52, hours=0)

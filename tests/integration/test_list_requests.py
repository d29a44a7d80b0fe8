"""A caseworker writes to the office address `#mycases`, `#cases overdue` or `#search TEXT` on the first line,
with no case reference, and gets the list back by mail; the same from anyone the office's server did not
vouch for, or from anyone not on the staff, gets nothing and stays in triage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.cases import reminders
from hub.cases.due_dates import AGENCY_FOLLOWUP
from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Case, Message
from tests.helpers import OFFICE_ADDRESS
from tests.integration.test_commands import (
    ATTACKER,
    MARIA,
    PAT,
    SAM,
    arrive,
    command,
    cycle,
    from_staff,
    mail,
    new_case,
    office,
    subject,
    text_of,
)
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration
__all__ = ["office"]  # the fixture, shared with the commands tests


def ask(hub: Hub, smtp: SmtpServer, sender: str, first_line: str, vouched: bool = True) -> list[str]:
    """The subjects of what the hub mailed `sender` after their message to the office address (less the
    notices on cases the same cycle sent)."""
    before = len(smtp.sent_to(sender))
    message = mail(sender, OFFICE_ADDRESS, "lists", f"{first_line}\n\nthanks")
    if vouched:
        from_staff(hub, message)
    else:
        arrive(hub, message)
    cycle(hub)
    return [subject(sent) for sent in smtp.sent_to(sender)[before:] if not subject(sent).startswith("[")]


def test_a_caseworker_gets_her_cases_the_overdue_ones_and_a_search_by_mail(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    pension = new_case(hub, body="My pension stopped in March.", sender=f"Pat Example <{PAT}>", subject="Pension")
    visa = new_case(hub, body="The visa for my mother is late.", sender="Lee <lee@example.org>", subject="Visa")
    command(hub, smtp, pension.ref, "#assign maria\n#followup 2d")
    command(hub, smtp, visa.ref, "#assign sam")
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=3))

    assert ask(hub, smtp, MARIA, "#mycases") == ["Your open cases: 1"]
    mine = text_of(smtp.sent_to(MARIA)[-1])
    assert pension.ref in mine and "Pat Example" in mine and visa.ref not in mine
    assert ask(hub, smtp, SAM, "#MyCases") == ["Your open cases: 1"]
    assert visa.ref in text_of(smtp.sent_to(SAM)[-1])
    closed = new_case(hub, body="My card came, thank you.", sender="Kim <kim@example.org>", subject="Card")
    command(hub, smtp, closed.ref, "#assign sam\n#close resolved")
    assert ask(hub, smtp, SAM, "#mycases") == ["Your open cases: 1"], "a closed case is not hers to do"
    assert closed.ref not in text_of(smtp.sent_to(SAM)[-1])

    # The running hub sent what fell due (Maria's follow-up went this morning): nothing is overdue.
    assert ask(hub, smtp, MARIA, "#cases overdue") == ["Overdue cases: 0"]
    with hub.sessions.begin() as session:  # the SSA's answer on the visa case was due yesterday
        case_id = session.scalar(select(Case.id).where(Case.ref == visa.ref))
        assert case_id is not None
        reminders.add(session.connection(), case_id, AGENCY_FOLLOWUP, clock.now() - timedelta(days=1), clock.now())
    # Listed by the intake, before the same cycle's sweep follows the agency up.
    assert ask(hub, smtp, MARIA, "#cases overdue") == ["Overdue cases: 1"]
    overdue = text_of(smtp.sent_to(MARIA)[-1])
    assert visa.ref in overdue and "Lee" in overdue and pension.ref not in overdue

    assert ask(hub, smtp, SAM, "#search visa mother") == ["Search for 'visa mother': 1 found"]
    found = text_of(smtp.sent_to(SAM)[-1])
    assert visa.ref in found and "inbound" in found and pension.ref not in found
    assert ask(hub, smtp, SAM, "#search ?!") == ["Search for '?!'"]
    assert "give a word" in text_of(smtp.sent_to(SAM)[-1])
    with hub.sessions() as session:  # answered, and in no one's triage
        asked = session.scalars(select(Message).where(Message.subject == "lists")).all()
        assert {row.disposition for row in asked} == {"command"} and len(asked) == 7
        assert all(row.case_id is None for row in asked)


@pytest.mark.parametrize("first_line", ["#mycases", "#cases overdue", "#search pension"])
def test_a_list_request_nobody_vouched_for_gets_no_list(office: Hub, smtp: SmtpServer, first_line: str) -> None:
    hub = office
    pension = new_case(hub, body="My pension stopped.")
    sent = len(smtp.messages)
    # A forged staff From: stays in triage: no list, only the triage notice to the intake address (Maria).
    assert ask(hub, smtp, MARIA, first_line, vouched=False) == ["In triage: lists"]
    assert len(smtp.messages) == sent + 1
    assert pension.ref not in text_of(smtp.sent_to(MARIA)[-1]), "the notice shows the held message, not a list"
    # Someone not on the staff is a constituent writing in: an acknowledgement of their own case, no list.
    assert ask(hub, smtp, ATTACKER, first_line) == []
    assert all(pension.ref not in text_of(message) for message in smtp.sent_to(ATTACKER))
    with hub.sessions() as session:
        asked = session.scalars(select(Message).where(Message.subject == "lists").order_by(Message.id)).all()
        assert [(row.disposition, row.kind) for row in asked] == [("triage", "staff"), ("case", "constituent")]

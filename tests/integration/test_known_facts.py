"""A batch's later message sees what an earlier one of the same batch changed on its case: in a pipelined batch
the cases of the batch's references are read up front (hub.intake.known_facts), and a message filed forgets what
it may have changed. Each batch here is filed both ways, pipelined with the facts read up front and carefully
(a savepoint a message, each reference read when its message is filed), to the same fates and rows."""

from __future__ import annotations

from email import policy
from typing import Any

import pytest
from sqlalchemy import event, select

from hub.core.app import Hub
from hub.core.models import Event, Message
from hub.intake.parse.email import parse_email
from hub.intake.parse.workers import parse_stage
from hub.intake.pipeline import Batch, Intake, Outcome
from tests.helpers import OFFICE_ADDRESS, STAFF, STAFF_AUTHENTICATED, START, email, feed
from tests.integration.test_commands import RECEIVED, mail
from tests.integration.test_reopen import PAT, case, closed_case, later

pytestmark = pytest.mark.integration

HOME = "pat.home@example.net"


@pytest.fixture(params=["pipelined", "careful"])
def careful(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "careful")


def file_batch(hub: Hub, raws: list[bytes], careful: bool) -> tuple[list[Outcome], int]:
    """File `raws` as one batch: their outcomes, and how many statements read references' cases for the batch."""
    intake = Intake.of(hub)
    limits, domain = intake.config.limits, intake.config.office.domain
    parsed = [parse_stage(raw, "test", parse_email, limits.max_message_bytes, limits.max_attachment_bytes, domain)
              for raw in raws]
    reads = 0

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal reads
        reads += "unnest(" in statement

    event.listen(hub.engine, "before_cursor_execute", count)
    try:
        with Batch(intake, careful) as batch:
            batch.look_up(parsed)
            outcomes = [batch.file(raw, f"test:{n}", one)
                        for n, (raw, one) in enumerate(zip(raws, parsed, strict=True))]
    finally:
        event.remove(hub.engine, "before_cursor_execute", count)
    return outcomes, reads


def read_up_front(hub: Hub, careful: bool) -> bool:
    return hub.engine.dialect.name == "postgresql" and not careful


def events(hub: Hub, case_id: int, kind: str) -> list[str]:
    with hub.sessions() as session:
        return list(session.scalars(select(Event.actor).where(Event.case_id == case_id, Event.kind == kind)))


def test_a_reply_that_reopens_a_case_is_seen_by_the_next_message_of_its_batch(hub: Hub, careful: bool) -> None:
    ref = closed_case(hub)
    later(hub, 10)
    subject = f"Re: [{ref}] We have closed your case"
    outcomes, reads = file_batch(hub, [email(sender=PAT, subject=subject, body="It stopped again this month."),
                                          email(sender=PAT, subject=subject, body="And the letter is wrong.")],
                                 careful)
    assert [(o.fate, o.case_ref) for o in outcomes] == [("case", ref), ("case", ref)]
    reopened = case(hub, ref)
    assert reopened.status == "open"
    # Read before the batch, the case was closed: the second message would have reopened it again.
    assert events(hub, reopened.id, "reopened") == ["pat@example.com"]
    assert (reads > 0) == read_up_front(hub, careful)


def test_a_case_opened_in_a_batch_is_found_by_a_later_message_naming_it(hub: Hub, careful: bool) -> None:
    ref = str(Intake.of(hub).refs.make(START.year, 1))  # the first case of the year, not there before the batch
    outcomes, reads = file_batch(hub, [email(sender=PAT, subject="My pension", body="It stopped."),
                                          email(sender=PAT, subject=f"Re: [{ref}] My pension", body="Still not.")],
                                 careful)
    assert [(o.fate, o.case_ref) for o in outcomes] == [("new-case", ref), ("case", ref)]
    assert (reads > 0) == read_up_front(hub, careful)


def staff_mail(ref: str, body: str) -> bytes:
    """A caseworker's mail on the case, authenticated by the office's own server."""
    message = mail(STAFF, OFFICE_ADDRESS, f"Re: [{ref}] My pension", body)
    return (f"Authentication-Results: {STAFF_AUTHENTICATED}\r\nReceived: {RECEIVED}\r\n".encode()
            + message.as_bytes(policy=policy.SMTP))


def test_a_contact_added_by_staff_mail_lets_the_next_message_of_its_batch_join_the_case(
        hub: Hub, careful: bool) -> None:
    ref = closed_case(hub)
    later(hub, 1)
    subject = f"Re: [{ref}] My pension"
    outcomes, _ = file_batch(hub, [email(sender=f"Pat <{HOME}>", subject=subject, body="From home."),
                                   staff_mail(ref, f"#contact add email {HOME}\n"),
                                   email(sender=f"Pat <{HOME}>", subject=subject, body="From home again.")],
                             careful)
    # Before the command the address is nobody on the case; after it, the constituent's.
    assert [o.fate for o in outcomes] == ["triage", "case", "case"]
    assert last_from(hub, HOME) == ("case", case(hub, ref).id)


def test_a_contact_added_on_one_case_lets_the_next_message_of_its_batch_join_another_of_the_constituent(
        hub: Hub, careful: bool) -> None:
    first, second = (feed(hub, email(sender=PAT, subject=subject)).case_ref for subject in ("My pension", "My rent"))
    assert first and second
    # The command names the first case alone, and changes what the second case's constituent is.
    outcomes, reads = file_batch(hub, [staff_mail(first, f"#contact add email {HOME}\n"),
                                       email(sender=f"Pat <{HOME}>", subject=f"Re: [{second}] My rent",
                                             body="From home.")], careful)
    assert [(o.fate, o.case_ref) for o in outcomes] == [("case", first), ("case", second)]
    assert last_from(hub, HOME) == ("case", case(hub, second).id)
    assert (reads > 1) == read_up_front(hub, careful)  # read up front, and again after the command


def last_from(hub: Hub, sender: str) -> tuple[str, int | None]:
    with hub.sessions() as session:
        last = session.scalars(select(Message).where(Message.sender == sender).order_by(Message.id.desc())).first()
        assert last is not None
        return last.disposition, last.case_id

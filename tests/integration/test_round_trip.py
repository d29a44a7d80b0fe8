"""Whole conversations against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

A constituent writes, is acknowledged once, replies from Gmail and from Outlook; the caseworker is
notified, answers from her mail client and the answer reaches the constituent without its quoted
history; an inquiry goes to the agency, whose answer comes back under a rewritten subject. SMTP going
down delays mail but never loses or doubles it.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.cli.case_actions import run_action
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.errors import ConfigError, UserError
from hub.core.models import Case, Message, Outbox
from hub.run.cycle import Cycle, run_once
from tests.helpers import OFFICE_ADDRESS, STAFF, STAFF_AUTHENTICATED, START, make_office, vouched
from tests.servers.smtp import SmtpServer, running_smtp

pytestmark = pytest.mark.integration
PAT = "pat@example.com"
LIAISON = "congressional.liaison@ssa.gov"


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(), agencies={"ssa": {
        "liaison": LIAISON, "control_number": r"Control\s+No\.?\s*([0-9]{4}-[A-Z]{2}-[0-9]+)"}})
    yield hub
    hub.close()


def arrive(hub: Hub, message: EmailMessage) -> None:
    """Put a message in the office's Maildir inbox, as the office's mail server would."""
    inbox = mailbox.Maildir(hub.config.resolve("var/inbox"), create=True)
    inbox.add(message.as_bytes(policy=policy.SMTP))


def from_agency(message: EmailMessage) -> EmailMessage:
    """The message with the verdict the office's receiving server writes on genuine agency mail."""
    message["Authentication-Results"] = vouched(str(message["From"]))
    return message


def cycle(hub: Hub, later: timedelta = timedelta(minutes=1)) -> Cycle:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(later)
    return run_once(hub)


def mail(sender: str, to: str, subject: str, body: str, in_reply_to: str | None = None,
         references: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(START)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1].rstrip(">"))
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = references or in_reply_to
    message.set_content(body)
    return message


def case_messages(hub: Hub) -> list[Message]:
    with hub.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def only_case(hub: Hub) -> Case:
    with hub.sessions() as session:
        return session.scalars(select(Case)).one()


def test_a_whole_case_by_mail(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    first = mail(f"Pat Example <{PAT}>", OFFICE_ADDRESS, "My pension payment stopped",
                 "Hello, my pension payment stopped in October. Can you help?")
    arrive(hub, first)
    assert cycle(hub).outbox.counts == {"sent": 2}
    case = only_case(hub)
    ref = hub.refs.parse(case.ref)
    assert ref is not None

    # The acknowledgement: reference in subject, Reply-To and Message-ID; answers the constituent's mail.
    (ack,) = smtp.sent_to(PAT)
    headers = ack.message
    assert str(headers["Subject"]).startswith(f"[{case.ref}] ")
    assert headers["Reply-To"] == hub.refs.plus_address(OFFICE_ADDRESS, ref)
    assert hub.refs.find_in_message_ids([str(headers["Message-ID"])]) == ref
    assert headers["In-Reply-To"] == first["Message-ID"]
    assert (headers["Auto-Submitted"], headers["X-Auto-Response-Suppress"]) == ("auto-replied", "OOF, AutoReply")
    assert headers["X-Casework-Hub-Loop"] == OFFICE_ADDRESS
    with hub.sessions() as session:  # the envelope sender names the letter, so its bounce comes back to it
        ack_row = session.scalars(select(Outbox.id).where(Outbox.letter == "acknowledgement")).one()
    assert ack.mail_from == hub.refs.bounce_address(OFFICE_ADDRESS, ack_row)
    # The caseworker (the intake address: the first staff member) hears of the new case.
    (notice,) = smtp.sent_to(STAFF)
    assert notice.message["Reply-To"] == hub.refs.plus_address(OFFICE_ADDRESS, ref)
    assert "pension payment stopped" in notice.message.get_content()

    # Gmail-shaped reply to the acknowledgement: quoted history below "On … wrote:".
    gmail = mail(PAT, str(headers["Reply-To"]), f"Re: {headers['Subject']}",
                 "I also got a letter asking for my bank details.\n\nOn Mon, Nov 23, 2026 at 9:00 AM Office "
                 f"<{OFFICE_ADDRESS}> wrote:\n> We received your message.\n", str(headers["Message-ID"]))
    arrive(hub, gmail)
    # Outlook-shaped reply: a rewritten subject without the reference, no In-Reply-To, the reference only
    # in the quoted header block.
    outlook = mail(PAT, OFFICE_ADDRESS, "RE: pension",
                   f"Also my address changed.\n\n________________________________\nFrom: Office <{OFFICE_ADDRESS}>\n"
                   f"Sent: Monday, November 23, 2026 9:00 AM\nTo: {PAT}\nSubject: [{case.ref}] We received your "
                   "message\n\nWe received your message.\n")
    arrive(hub, outlook)
    assert cycle(hub).inbox.fates == {"case": 2}
    bodies = [m.body for m in case_messages(hub) if m.direction == "in"]
    assert bodies[1:] == ["I also got a letter asking for my bank details.", "Also my address changed."]
    assert len(smtp.sent_to(PAT)) == 1, "a reply never triggers another acknowledgement"
    assert len(smtp.sent_to(STAFF)) == 3

    # The caseworker answers the latest notification from her own mail client.
    latest = smtp.sent_to(STAFF)[-1].message
    answer = mail(f"Maria Lopez <{STAFF}>", str(latest["Reply-To"]), f"Re: {latest['Subject']}",
                  "Thank you, Pat. I have asked the agency to correct your address.\n\n"
                  f"On Mon, Nov 23, 2026, {OFFICE_ADDRESS} wrote:\n> New message from Pat Example\n> Also my "
                  "address changed.\n", str(latest["Message-ID"]))
    answer["Authentication-Results"] = STAFF_AUTHENTICATED
    arrive(hub, answer)
    assert cycle(hub).outbox.counts == {"sent": 1}
    (relayed,) = smtp.sent_to(PAT)[1:]
    text = relayed.message.get_content()
    assert text.startswith("Thank you, Pat. I have asked the agency to correct your address.")
    assert "Maria Lopez" in text and "wrote:" not in text and "> " not in text
    assert relayed.message["Auto-Submitted"] is None, "a caseworker's words are not automatic mail"
    assert relayed.message["In-Reply-To"] == outlook["Message-ID"], "answers the constituent's latest mail"
    assert str(relayed.message["From"]).endswith(f"<{OFFICE_ADDRESS}>")

    # The constituent answers the relayed mail; it threads back and the caseworker is told.
    arrive(hub, mail(PAT, str(relayed.message["Reply-To"]), f"Re: {relayed.message['Subject']}",
                     "Thank you so much!", str(relayed.message["Message-ID"])))
    assert cycle(hub).inbox.fates == {"case": 1}
    assert len(smtp.sent_to(STAFF)) == 4

    # The agency inquiry goes to the liaison; the agency answers under its own subject.
    with pytest.raises(UserError, match="has no agency yet"):
        letter_send.send(hub, "agency-inquiry", case.ref, "agency", force=False)
    with pytest.raises(UserError, match="no signed privacy release is on file"):
        letter_send.send(hub, "agency-inquiry", case.ref, LIAISON, force=False)
    assert run_action(hub, case.ref, "release", "received 2026-11-20").startswith("privacy release on file")
    letter_send.send(hub, "agency-inquiry", case.ref, LIAISON, force=False)
    assert only_case(hub).agency == "ssa", "an address at a directory agency's domain sets the case's agency"
    letter_send.send(hub, "privacy-release-request", case.ref, None, force=False)
    assert cycle(hub).outbox.counts == {"sent": 2}
    (inquiry,) = smtp.sent_to(LIAISON)
    assert inquiry.message["Auto-Submitted"] is None
    rewritten = mail(f"SSA Congressional Unit <{LIAISON}>", OFFICE_ADDRESS,
                     "Inquiry response Control No. 2026-CI-04412", "We have reinstated the payments.",
                     str(inquiry.message["Message-ID"]))
    arrive(hub, from_agency(rewritten))
    assert cycle(hub).inbox.fates == {"case": 1}
    agency_answer = case_messages(hub)[-2] if case_messages(hub)[-1].direction == "out" else case_messages(hub)[-1]
    assert (agency_answer.kind, agency_answer.case_id) == ("agency", case.id)
    assert (only_case(hub).agency, only_case(hub).agency_control) == ("ssa", "2026-CI-04412")

    # Later agency mail with only its control number threads too, and our mail repeats the number.
    arrive(hub, from_agency(mail(f"SSA Congressional Unit <{LIAISON}>", OFFICE_ADDRESS,
                                 "Control No. 2026-CI-04412 closed", "The matter is resolved.")))
    assert cycle(hub).inbox.fates == {"case": 1}
    letter_send.send(hub, "agency-followup", case.ref, None, force=False)
    cycle(hub)
    assert str(smtp.sent_to(LIAISON)[-1].message["Subject"]).endswith("(your ref. 2026-CI-04412)")

    # Every message went out once; every outbox row is sent.
    assert all(len(copies) == 1 for copies in smtp.by_message_id().values())
    with hub.sessions() as session:
        assert {row.state for row in session.scalars(select(Outbox))} == {"sent"}


def test_an_out_of_office_reply_gets_nothing_back(office: Hub, smtp: SmtpServer) -> None:
    arrive(office, mail(PAT, OFFICE_ADDRESS, "Help", "My claim is stuck."))
    cycle(office)
    ack = smtp.sent_to(PAT)[0].message
    away = mail(PAT, str(ack["Reply-To"]), f"Automatic reply: {ack['Subject']}", "I am away until Monday.",
                str(ack["Message-ID"]))
    away["Auto-Submitted"] = "auto-replied"
    arrive(office, away)
    result = cycle(office)
    assert result.inbox.fates == {"case": 1}
    assert result.outbox.counts == {}, "no acknowledgement, no notification, nothing to an auto-responder"
    assert len(smtp.sent_to(PAT)) == 1


def test_smtp_down_delays_mail_and_delivers_it_once(office: Hub, smtp: SmtpServer) -> None:
    arrive(office, mail(PAT, OFFICE_ADDRESS, "Help", "My claim is stuck."))
    smtp.stop()
    assert cycle(office).outbox.counts == {"retrying": 1}, "one try at a server that cannot be reached, per pass"
    assert cycle(office, timedelta(seconds=10)).outbox.counts == {"retrying": 1}, "the other letter; not the first"
    with office.sessions() as session:
        rows = list(session.scalars(select(Outbox)))
        assert {(row.state, row.attempts) for row in rows} == {("pending", 1)}
        assert all("refused" in row.error.lower() or "connect" in row.error.lower() for row in rows)
    assert cycle(office, timedelta(seconds=10)).outbox.counts == {}, "not before the backoff"
    smtp.start()
    smtp.fail_next(1, 451)
    assert cycle(office, timedelta(minutes=2)).outbox.counts == {"retrying": 1, "sent": 1}
    assert cycle(office, timedelta(minutes=5)).outbox.counts == {"sent": 1}
    assert sorted(len(copies) for copies in smtp.by_message_id().values()) == [1, 1]


def test_a_permanent_refusal_fails_the_row_and_tells_the_caseworker(office: Hub, smtp: SmtpServer) -> None:
    smtp.refuse_recipient(PAT)
    arrive(office, mail(PAT, OFFICE_ADDRESS, "Help", "My claim is stuck."))
    assert cycle(office).outbox.counts == {"failed": 1, "sent": 2}, "the notice of the failure goes at once"
    (first, failure) = smtp.sent_to(STAFF)
    assert "Delivery failed" in failure.message.get_content() and "550" in failure.message.get_content()
    with office.sessions() as session:
        ack = session.scalars(select(Outbox).where(Outbox.letter == "acknowledgement")).one()
        assert (ack.state, ack.attempts) == ("failed", 1) and "550" in ack.error


def test_a_submission_server_with_starttls_and_login(tmp_path: Path, database_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with running_smtp(tls="starttls", auth=("hub", "s3cret")) as server:
        hub = make_office(tmp_path / "office", database_url, outbound_url=server.url())
        hub.close()
        config = hub.config.path
        config.write_text(config.read_text().replace('ca_file = ""', f'ca_file = "{server.ca_file}"'))
        monkeypatch.setenv("HUB_SMTP_PASSWORD", "s3cret")
        hub = open_hub(config, FixedClock(START))
        try:
            arrive(hub, mail(PAT, OFFICE_ADDRESS, "Help", "My claim is stuck."))
            assert cycle(hub).outbox.counts == {"sent": 2}
            assert {(m.tls, m.login) for m in server.messages} == {(True, "hub")}
            monkeypatch.setenv("HUB_SMTP_PASSWORD", "wrong")
            arrive(hub, mail("lee@example.org", OFFICE_ADDRESS, "Help", "Passport."))
            with pytest.raises(ConfigError, match="login refused"):
                cycle(hub)
            with hub.sessions() as session:
                waiting = session.scalars(select(Outbox).where(Outbox.state != "sent")).all()
                assert {(row.state, row.attempts) for row in waiting} == {("pending", 0)} and len(waiting) == 2
            monkeypatch.setenv("HUB_SMTP_PASSWORD", "s3cret")
            assert cycle(hub).outbox.counts == {"sent": 2}, "once the password is right, the mail goes"
        finally:
            hub.close()

"""The inbound path end to end on SQLite and PostgreSQL: every message on the right case, or in
triage or quarantine with a reason; nothing opened by automatic mail; nothing stored twice."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import select, update

from hub.core.app import Hub
from hub.core.db import MIGRATIONS, migrate
from hub.core.models import Case, Event, Message, Outbox, Party
from hub.core.refs import Reference
from tests.helpers import OFFICE_ADDRESS, STAFF, email, feed, stored_file, stored_raw, tally, vouched

pytestmark = pytest.mark.integration


def open_case(hub: Hub, sender: str = "Pat Example <pat@example.com>") -> Reference:
    outcome = feed(hub, email(sender=sender, subject="My pension is late"))
    assert outcome.fate == "new-case"
    reference = hub.refs.parse(outcome.case_ref or "")
    assert reference is not None
    return reference


def messages_on(hub: Hub, ref: Reference) -> list[Message]:
    with hub.sessions() as session:
        case = session.scalars(select(Case).where(Case.ref == str(ref))).one()
        return list(session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id)))


def outbox(hub: Hub) -> list[Outbox]:
    """The letters queued to constituents and agencies (notifications to caseworkers aside)."""
    with hub.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.letter != "caseworker-notification")
                                    .order_by(Outbox.id)))


def notifications(hub: Hub) -> list[Outbox]:
    with hub.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.letter == "caseworker-notification")
                                    .order_by(Outbox.id)))


def test_new_constituent_mail_opens_a_case_with_one_acknowledgement(hub: Hub) -> None:
    ref = open_case(hub)
    with hub.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert (case.ref, case.status, case.subject) == (str(ref), "new", "My pension is late")
        assert (case.constituent.name, case.constituent.email) == ("Pat Example", "pat@example.com")
    [ack] = outbox(hub)
    assert (ack.letter, ack.recipient, ack.state) == ("acknowledgement", "pat@example.com", "pending")
    assert hub.refs.find_in_message_ids([ack.message_id]) == ref


def test_the_same_message_twice_is_stored_once(hub: Hub) -> None:
    raw = email(message_id="<once@example.com>")
    assert feed(hub, raw).fate == "new-case"
    assert feed(hub, raw).fate == "duplicate"
    assert feed(hub, raw.replace(b"Subject:", b"X-Relay: again\nSubject:")).fate == "duplicate"
    assert (tally(hub).cases, tally(hub).messages, len(outbox(hub))) == (1, 1, 1)


def test_the_same_message_delivered_again_with_other_trace_headers_is_a_duplicate(hub: Hub) -> None:
    """A second delivery (another alias, a relay, IMAP and a Maildir copy) differs in its trace headers and
    line ends, not in what its sender wrote."""
    raw = email(message_id="<twice@example.com>")
    again = (b"Received: from relay.example.net by mx.doe.example.gov; Mon, 23 Nov 2026 14:01:00 +0000\r\n"
             b"Delivered-To: casework-alias@doe.example.gov\r\nReturn-Path: <pat@example.com>\r\n"
             + raw.replace(b"\r\n", b"\n"))
    assert feed(hub, raw).fate == "new-case"
    assert feed(hub, again).fate == "duplicate"
    assert tally(hub).messages == 1


def test_different_messages_sharing_a_message_id_are_each_stored(hub: Hub) -> None:
    """Web forms and scanners that reuse one fixed Message-ID: three people, three messages, three cases."""
    shared = "<form-submission@forms.example.com>"
    outcomes = [feed(hub, email(sender=f"person{number}@example.com", subject=f"Form {number}",
                                body=f"Request number {number}", message_id=shared)) for number in range(3)]

    assert [outcome.fate for outcome in outcomes] == ["new-case"] * 3
    assert len({outcome.case_ref for outcome in outcomes}) == 3
    assert (tally(hub).cases, tally(hub).messages) == (3, 3)
    assert feed(hub, email(sender="person1@example.com", subject="Form 1", body="Request number 1",
                           message_id=shared)).fate == "duplicate", "the same content is still a duplicate"


def test_a_reply_reusing_a_message_id_threads_on_its_own_merits(hub: Hub) -> None:
    ref = open_case(hub)
    shared = "<scanner@copier.example.com>"
    first = feed(hub, email(sender="someone.else@example.org", subject="Scan", message_id=shared))
    reply = feed(hub, email(sender="pat@example.com", subject=f"Re: [{ref}] My pension is late", body="Scan attached",
                            message_id=shared))

    assert first.fate == "new-case"
    assert (reply.fate, reply.case_ref) == ("case", str(ref))


def test_messages_stored_under_the_older_message_id_keys_are_still_recognised_after_the_upgrade(hub: Hub) -> None:
    kept = [email(message_id="<kept@example.com>", sender="kept@example.com"),
            b"From: noid@example.com\r\nTo: casework@doe.example.gov\r\nSubject: no id\r\n\r\nhello\r\n"]
    assert [feed(hub, raw).fate for raw in kept] == ["new-case", "new-case"]
    with hub.engine.begin() as connection:  # the keys as the version before wrote them
        connection.execute(update(Message).where(Message.message_id.is_not(None))
                           .values(dedupe_key="mid:" + Message.message_id))
        connection.execute(update(Message).where(Message.message_id.is_(None)).values(dedupe_key="sha256:old"))
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(MIGRATIONS))
    alembic.attributes["engine"] = hub.engine
    command.downgrade(alembic, "0006")

    migrate(hub.engine)

    assert [feed(hub, raw).fate for raw in kept] == ["duplicate", "duplicate"]
    assert tally(hub).messages == 2


def test_messages_without_message_id_are_deduplicated_by_content(hub: Hub) -> None:
    raw = b"From: pat@example.com\r\nTo: casework@doe.example.gov\r\nSubject: no id\r\n\r\nhello\r\n"
    assert feed(hub, raw).fate == "new-case"
    assert feed(hub, raw).fate == "duplicate"
    assert tally(hub).messages == 1


@pytest.mark.parametrize("how", ["subject", "plus-address", "body", "message-id"])
def test_constituent_reply_threads_by_every_form_of_the_reference(hub: Hub, how: str) -> None:
    ref = open_case(hub)
    reply = {
        "subject": dict(subject=f"Re: [{ref}] My pension is late"),
        "plus-address": dict(subject="Re: My pension", to=hub.refs.plus_address(OFFICE_ADDRESS, ref)),
        "body": dict(subject="more", body=f"Following up on case {str(ref).lower()}, any news?"),
        "message-id": dict(subject="Re:", headers={"In-Reply-To": hub.refs.message_id("doe.example.gov", ref)}),
    }[how]
    outcome = feed(hub, email(**reply))  # type: ignore[arg-type]
    assert (outcome.fate, outcome.case_ref) == ("case", str(ref))
    assert [m.kind for m in messages_on(hub, ref)] == ["constituent", "constituent"]
    assert len(outbox(hub)) == 1, "a reply never triggers another acknowledgement"
    first, second = notifications(hub)
    assert [first.context["notice"], second.context["notice"]] == ["New case from Pat Example",
                                                                   "New message from Pat Example"]
    assert (first.in_reply_to, first.context.get("first_notice")) == (None, True), "the case's thread starts"
    assert (second.in_reply_to, second.context.get("first_notice")) == (first.message_id, None), "and goes on"


def test_reply_threads_by_in_reply_to_a_stored_message_when_the_subject_is_rewritten(hub: Hub) -> None:
    feed(hub, email(subject="Passport", message_id="<first@example.com>"))
    outcome = feed(hub, email(subject="RE: RE: (no subject)", headers={
        "In-Reply-To": "<first@example.com>", "References": "<first@example.com>"}))
    assert outcome.fate == "case"
    assert tally(hub).cases == 1


def test_agency_reply_with_rewritten_subject_threads_as_agency(hub: Hub) -> None:
    ref = open_case(hub)
    [ack] = outbox(hub)
    outcome = feed(hub, email(sender="Liaison <congressional.liaison@ssa.gov>",
                              subject="RESPONSE: Control No. 2026-CI-0412", body="The claim was approved.",
                              headers={"In-Reply-To": ack.message_id,
                                       "Authentication-Results": vouched("congressional.liaison@ssa.gov")}))
    assert (outcome.fate, outcome.case_ref) == ("case", str(ref))
    assert messages_on(hub, ref)[-1].kind == "agency"


def test_a_mistyped_or_guessed_reference_never_attaches(hub: Hub) -> None:
    ref = open_case(hub)
    wrong_check = f"{ref.prefix}-{ref.year:02d}-{ref.sequence:05d}-{'AA' if ref.check != 'AA' else 'BB'}"
    outcome = feed(hub, email(sender="other@example.org", subject=f"Re: [{wrong_check}] my case"))
    assert outcome.fate == "triage" and "does not verify" in outcome.reason
    assert len(messages_on(hub, ref)) == 1


def test_a_stranger_with_a_verified_reference_goes_to_triage_not_to_the_case(hub: Hub) -> None:
    ref = open_case(hub)
    outcome = feed(hub, email(sender="someone.else@example.org", subject=f"Fwd: [{ref}] My pension is late"))
    assert outcome.fate == "triage"
    assert str(ref) in outcome.reason and "not a party" in outcome.reason
    assert len(messages_on(hub, ref)) == 1
    with hub.sessions() as session:
        held = session.scalars(select(Message).where(Message.disposition == "triage")).one()
        assert held.case_id is None and held.triage_case_id is not None
    assert [row.letter for row in outbox(hub)] == ["acknowledgement", "triage-notice"], \
        "nothing to the stranger: the intake address is told"


def test_staff_mail_threads_to_the_case_and_without_a_reference_goes_to_triage(hub: Hub) -> None:
    ref = open_case(hub)
    assert feed(hub, email(sender=STAFF, subject=f"Re: [{ref}] My pension")).fate == "case"
    assert messages_on(hub, ref)[-1].kind == "staff"
    outcome = feed(hub, email(sender=STAFF, subject="lunch?"))
    assert outcome.fate == "triage" and "no case reference" in outcome.reason
    assert tally(hub).cases == 1


def test_mail_from_the_office_address_never_opens_a_case(hub: Hub) -> None:
    assert feed(hub, email(sender=OFFICE_ADDRESS, subject="test")).fate == "triage"
    assert tally(hub).cases == 0


AUTOMATIC = {
    "auto-submitted": {"Auto-Submitted": "auto-replied"},
    "x-autoreply": {"X-Autoreply": "yes"},
    "precedence": {"Precedence": "bulk"},
    "list": {"List-Id": "<news.example.org>", "List-Unsubscribe": "<mailto:leave@example.org>"},
}


@pytest.mark.parametrize("marker", sorted(AUTOMATIC))
def test_automatic_mail_never_opens_a_case(hub: Hub, marker: str) -> None:
    outcome = feed(hub, email(sender="news@example.org", subject="Out of office", headers=AUTOMATIC[marker]))
    assert outcome.fate == "triage"
    assert (tally(hub).cases, len(outbox(hub))) == (0, 0)


def test_an_out_of_office_reply_to_our_letter_is_recorded_on_the_case_and_triggers_nothing(hub: Hub) -> None:
    ref = open_case(hub)
    [ack] = outbox(hub)
    outcome = feed(hub, email(subject=f"Automatic reply: [{ref}] We received your message",
                              headers={"Auto-Submitted": "auto-replied", "In-Reply-To": ack.message_id}))
    assert (outcome.fate, outcome.case_ref) == ("case", str(ref))
    assert messages_on(hub, ref)[-1].kind == "auto-reply"
    assert (len(outbox(hub)), len(notifications(hub))) == (1, 1), "nothing answers an auto-reply"


def delivery_report(failed: str, returned_message_id: str, returned_subject: str) -> bytes:
    """A delivery status notification (RFC 3464) as an MTA writes it, returning our message's headers."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r
To: {OFFICE_ADDRESS}\r
Subject: Undelivered Mail Returned to Sender\r
Message-ID: <bounce-{returned_message_id.strip('<>')}>\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r
\r
--b1\r
Content-Type: text/plain\r
\r
Your message could not be delivered to one or more recipients.\r
--b1\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.com\r
\r
Final-Recipient: rfc822; {failed}\r
Action: failed\r
Status: 5.1.1\r
\r
--b1\r
Content-Type: text/rfc822-headers\r
\r
From: {OFFICE_ADDRESS}\r
To: {failed}\r
Subject: {returned_subject}\r
Message-ID: {returned_message_id}\r
\r
--b1--\r
""".encode()


def test_a_bounce_is_recorded_on_its_case_and_marks_the_address(hub: Hub) -> None:
    ref = open_case(hub)
    [ack] = outbox(hub)
    outcome = feed(hub, delivery_report("pat@example.com", ack.message_id, f"[{ref}] We received your message"))
    assert (outcome.fate, outcome.case_ref) == ("case", str(ref))
    assert messages_on(hub, ref)[-1].kind == "bounce"
    with hub.sessions() as session:
        party = session.scalars(select(Party).where(Party.email == "pat@example.com")).one()
        assert party.bounced_at is not None
        assert session.scalar(select(Event).where(Event.kind == "address-bounced")) is not None
    assert (tally(hub).cases, len(outbox(hub))) == (1, 1)
    assert notifications(hub)[-1].context["notice"].startswith("Mail to the constituent bounced")


def test_a_bounce_about_nothing_we_know_goes_to_triage(hub: Hub) -> None:
    outcome = feed(hub, delivery_report("x@example.net", "<unknown@example.net>", "hello"))
    assert outcome.fate == "triage" and outcome.reason.startswith("bounce")
    assert tally(hub).cases == 0


def test_our_own_mail_coming_back_never_opens_a_case(hub: Hub) -> None:
    raw = email(sender=f"Office <{OFFICE_ADDRESS}>", message_id="<hub.run.office.0badc0ffee@doe.example.gov>")
    assert feed(hub, raw).fate == "triage"
    looped = email(sender="pat@example.com", headers={"X-Casework-Hub-Loop": OFFICE_ADDRESS})
    assert feed(hub, looped).fate == "triage"
    assert tally(hub).cases == 0


def test_html_only_mail_is_stored_as_text(hub: Hub) -> None:
    outcome = feed(hub, email(html="<p>My <b>passport</b> is late.</p><p>Thanks,<br>Lu</p>"))
    ref = hub.refs.parse(outcome.case_ref or "")
    assert ref is not None
    body = messages_on(hub, ref)[0].body
    assert "My passport is late." in body and "<b>" not in body


def test_attachments_are_kept_and_oversized_ones_recorded(hub: Hub) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "pat@example.com", OFFICE_ADDRESS, "release form"
    message["Message-ID"] = "<att@example.com>"
    message.set_content("Signed form attached.")
    message.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="release.pdf")
    big = b"x" * (hub.config.limits.max_attachment_bytes + 1)
    message.add_attachment(big, maintype="application", subtype="octet-stream", filename="huge.bin")
    outcome = feed(hub, message.as_bytes())
    ref = hub.refs.parse(outcome.case_ref or "")
    assert ref is not None
    [stored] = messages_on(hub, ref)
    found = {a.filename: (a.size, a.oversized, stored_file(hub, a)) for a in stored.attachments}
    assert found["release.pdf"] == (14, False, b"%PDF-1.4 small")
    assert found["huge.bin"] == (len(big), True, None)
    assert stored_raw(hub, stored) == message.as_bytes(), "the raw message always keeps everything"


def test_unreadable_and_oversized_messages_are_quarantined_with_the_reason(hub: Hub) -> None:
    assert feed(hub, b"\x00\x01 not a message").fate == "quarantine"
    huge = email(body="y" * (hub.config.limits.max_message_bytes + 10))
    outcome = feed(hub, huge)
    assert outcome.fate == "quarantine" and "over the" in outcome.reason
    assert feed(hub, huge).quarantine_id == outcome.quarantine_id, "the same bytes are held once"
    assert (tally(hub).quarantine, tally(hub).messages, tally(hub).cases) == (2, 0, 0)


def test_one_bad_message_does_not_stop_the_next(hub: Hub) -> None:
    fates = [feed(hub, raw).fate for raw in (email(message_id="<a@x>"), b"", email(message_id="<b@x>",
                                                                                     sender="b@example.com"))]
    assert fates == ["new-case", "quarantine", "new-case"]


def test_case_references_count_up_within_the_year(hub: Hub) -> None:
    refs = [open_case(hub, sender=f"p{n}@example.com") for n in range(3)]
    assert [r.sequence for r in refs] == [1, 2, 3]
    assert {r.year for r in refs} == {26}


def test_a_constituent_writing_again_without_a_reference_gets_a_new_case_on_the_same_party(hub: Hub) -> None:
    first, second = open_case(hub), open_case(hub)
    assert first != second
    with hub.sessions() as session:
        assert len(session.scalars(select(Party)).all()) == 1

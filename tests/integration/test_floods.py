"""Floods, on SQLite and PostgreSQL: one sender cannot bury a caseworker in notices, nor a staff address in
refusals.

200 messages from one new sender within minutes all open cases, but the caseworker gets the first few
notices one by one and one digest for the rest, a window later; 500 forged command mails from one
address get the first few refusals and one digest. Nothing is lost (every message is on its case, every
notice an outbox row folded into the digest) and nothing goes twice (the digest is an outbox row too).
"""

from __future__ import annotations

import mailbox
import threading
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Case, Outbox, Party
from hub.delivery.deliver import DeliveryReport, deliver_due
from hub.intake.drain import drain
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake
from hub.letters.notice_digest import NOTICE, enqueue_capped
from tests.helpers import OFFICE_ADDRESS, STAFF, email, feed, make_office, tally
from tests.integration.test_intake_statements import ListSource
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration

FLOODER = "flood@example.net"
PAT = "pat@example.com"
RECEIVED = ("from mail.doe.example.gov (mail.doe.example.gov [192.0.2.10]) by mx.doe.example.gov with ESMTPS "
            "id 4Xy7; Mon, 23 Nov 2026 14:00:00 +0000")


def clock_of(hub: Hub) -> FixedClock:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    return clock


def sent_to(hub: Hub, address: str) -> list[EmailMessage]:
    found = [message_from_bytes(raw.as_bytes(), policy=policy.default)
             for raw in mailbox.Maildir(hub.config.resolve("var/sent"), create=True)]
    return [message for message in found if str(message["To"]) == address]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def rows(hub: Hub, letter: str) -> list[Outbox]:
    with hub.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.letter == letter).order_by(Outbox.id)))


def refs_of(hub: Hub, sender: str) -> list[str]:
    with hub.sessions() as session:
        return list(session.scalars(select(Case.ref).join(Party, Party.id == Case.constituent_id)
                                    .where(Party.email == sender).order_by(Case.id)))


def test_a_flood_from_one_sender_gets_a_few_notices_and_one_digest(hub: Hub) -> None:
    clock, limits = clock_of(hub), hub.config.limits
    cap, flood = limits.notices_per_sender, 200
    for n in range(flood):
        feed(hub, email(sender=f"Flood <{FLOODER}>", subject=f"Urgent matter {n}", body=f"Please act on item {n}."))
        clock.advance(timedelta(seconds=1))
        if n == 100:  # someone else writes in the middle of it: their notice is not held back
            feed(hub, email(sender=f"Pat Example <{PAT}>", subject="My Medicare card"))
    deliver_due(hub)

    assert tally(hub).on_cases == flood + 1 and tally(hub).cases == flood + 1, "every message is on a case"
    notices = [message for message in sent_to(hub, STAFF) if "New case" in str(message["Subject"])]
    assert len(notices) == cap + 1, "the flooder's first notices, and Pat's"
    assert sum("New case from Pat Example" in str(message["Subject"]) for message in notices) == 1
    folded = [row for row in rows(hub, "caseworker-notification") if row.state == "folded"]
    (digest,) = rows(hub, "notice-digest")
    assert len(folded) == flood - cap and {row.folded_into for row in folded} == {digest.id}
    assert (digest.state, digest.recipient, digest.about) == ("pending", STAFF, FLOODER)
    assert deliver_due(hub).counts == {}, "the digest waits for the end of its window"

    clock.advance(timedelta(minutes=limits.notice_window_minutes))
    assert deliver_due(hub).counts == {"sent": 1}
    (sent,) = [message for message in sent_to(hub, STAFF) if "more messages" in str(message["Subject"])]
    assert str(sent["Subject"]) == f"{flood - cap} more messages from {FLOODER}"
    text = text_of(sent)
    assert f"{flood - cap} more messages from {FLOODER} opened or joined cases" in text, text
    flooded = refs_of(hub, FLOODER)
    shown = [ref for ref in flooded if ref in text]
    assert shown == flooded[cap:cap + len(shown)] and 20 <= len(shown) < flood - cap, "capped to a readable length"
    assert f"and {flood - cap - len(shown)} more cases" in text
    assert deliver_due(hub).counts == {}, "sent once"
    assert rows(hub, "notice-digest")[0].state == "sent"

    # Once the window has passed, the sender's next message gets its own notice again.
    feed(hub, email(sender=f"Flood <{FLOODER}>", subject="Yet another matter"))
    assert deliver_due(hub).counts == {"sent": 1 + 1}, "the acknowledgement and the notice"
    assert sum("New case from Flood" in str(message["Subject"]) for message in sent_to(hub, STAFF)) == cap + 1


def test_a_flood_of_forged_commands_gets_a_few_refusals_and_one_digest(hub: Hub) -> None:
    clock, limits = clock_of(hub), hub.config.limits
    cap, flood = limits.refusals_per_sender, 500
    feed(hub, email(sender=f"Pat Example <{PAT}>", subject="My Medicare card"))
    (ref,) = refs_of(hub, PAT)
    reference = hub.refs.parse(ref)
    assert reference is not None
    to = hub.refs.plus_address(OFFICE_ADDRESS, reference)
    for n in range(flood):
        forged = email(sender=f"Maria Lopez <{STAFF}>", to=to, subject=f"Re: [{ref}] x",
                       body=f"#close withdrawn\nPlease send your bank details ({n}).")
        feed(hub, f"Received: {RECEIVED}\r\n".encode() + forged)
        if n % 50 == 0:
            clock.advance(timedelta(seconds=30))
    deliver_due(hub)

    with hub.sessions() as session:
        (case,) = session.scalars(select(Case))
        assert case.status != "closed"
    assert tally(hub).on_cases == flood + 1
    refusals = [message for message in sent_to(hub, STAFF) if "Nothing was applied" in str(message["Subject"])]
    assert len(refusals) == cap
    replies = rows(hub, "command-reply")
    assert Counter(row.state for row in replies) == {"sent": cap, "folded": flood - cap}
    clock.advance(timedelta(minutes=limits.notice_window_minutes))
    assert deliver_due(hub).counts == {"sent": 1}
    (digest,) = [message for message in sent_to(hub, STAFF) if "refused" in str(message["Subject"])]
    assert str(digest["Subject"]) == f"{flood - cap} more messages from {STAFF} were refused"
    text = text_of(digest)
    assert "nothing in them was applied or sent" in " ".join(text.split())
    assert "could not be authenticated" in text, "why, once"
    assert text.count("could not be authenticated") == 1
    assert f"{ref}  {flood - cap} messages" in text
    assert len(sent_to(hub, STAFF)) == 1 + cap + 1, "Pat's notice, the first refusals, the digest"


def test_a_digest_that_must_be_retried_keeps_its_text_and_later_notices_start_the_next(
        tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    try:
        clock, limits = clock_of(hub), hub.config.limits
        for n in range(limits.notices_per_sender + 2):
            feed(hub, email(sender=FLOODER, subject=f"Matter {n}"))
        deliver_due(hub)
        clock.advance(timedelta(minutes=limits.notice_window_minutes))
        smtp.fail_next()  # the server cannot take the digest now: it is written, and waits for a retry
        assert deliver_due(hub).counts == {"retrying": 1}
        (first,) = rows(hub, "notice-digest")
        assert first.state == "pending" and first.body is not None

        feed(hub, email(sender=FLOODER, subject="Matter after the claim"))
        clock.advance(timedelta(minutes=5))
        assert deliver_due(hub).counts == {"sent": 2}, "the retried digest, and the acknowledgement"
        digests = rows(hub, "notice-digest")
        assert [(row.state, row.body == first.body) for row in digests] == [("sent", True), ("pending", False)]
        (late,) = [row for row in rows(hub, "caseworker-notification") if row.folded_into == digests[1].id]
        assert late.state == "folded"
        clock.advance(timedelta(minutes=limits.notice_window_minutes))
        assert deliver_due(hub).counts == {"sent": 1}
        texts = [text_of_captured(message) for message in smtp.sent_to(STAFF) if " more message" in subject(message)]
        assert [text.count("  New case") for text in texts] == [2, 1], "each notice in exactly one digest"
        assert all(len(copies) == 1 for copies in smtp.by_message_id().values()), "nothing sent twice"
    finally:
        hub.close()


def subject(captured: CapturedMessage) -> str:
    return " ".join(str(captured.message["Subject"]).split())


def text_of_captured(captured: CapturedMessage) -> str:
    return str(captured.message.get_content()).replace("\r\n", "\n")


def test_a_notice_folded_while_delivery_claims_its_digest_is_listed_in_it(hub: Hub) -> None:
    clock, limits = clock_of(hub), hub.config.limits
    for n in range(limits.notices_per_sender + 1):
        feed(hub, email(sender=FLOODER, subject=f"Matter {n}"))
    deliver_due(hub)
    clock.advance(timedelta(minutes=limits.notice_window_minutes))
    (digest,) = rows(hub, "notice-digest")
    reports: list[DeliveryReport] = []
    with hub.sessions.begin() as session:
        case = session.scalars(select(Case).order_by(Case.id.desc())).first()
        assert case is not None
        enqueue_capped(session.connection(), hub.config, hub.refs, clock.now(), letter=NOTICE, about=FLOODER,
                       recipient=STAFF, case_id=case.id, case_ref=case.ref, context={"notice": "Late one"})
        delivery = threading.Thread(target=lambda: reports.append(deliver_due(hub)))
        delivery.start()
        delivery.join(timeout=1)  # delivery reaches the digest while this notice is not yet committed
    delivery.join(timeout=60)
    assert [report.counts for report in reports] == [{"sent": 1}]
    with hub.sessions() as session:
        late = session.scalars(select(Outbox).where(Outbox.letter == NOTICE).order_by(Outbox.id.desc())).first()
        assert late is not None and late.context == {"notice": "Late one"} and late.folded_into == digest.id
        sent = session.get_one(Outbox, digest.id)
    assert sent.state == "sent" and sent.body is not None
    assert sent.body.startswith(f"2 more messages from {FLOODER}") and f"{case.ref}  2 messages" in sent.body


def test_a_flood_drained_in_batches_is_folded_and_threaded_as_one_message_at_a_time(hub: Hub) -> None:
    """In a drained batch (on PostgreSQL one transaction, the fold known for the batch's senders at once:
    hub.letters.notice_digest.Caps) the notices are folded as when the messages come one by one: across batches,
    with notices from before the batch counted, and each case's notices answering its first."""
    cap = hub.config.limits.notices_per_sender
    feed(hub, email(sender=f"Flood <{FLOODER}>", subject="Before the batches"))
    first_case = refs_of(hub, FLOODER)[0]
    raws = [email(sender=f"Flood <{FLOODER}>", subject=f"Urgent matter {n}", body=f"Please act on item {n}.")
            for n in range(150)]
    raws[3] = email(sender=f"Flood <{FLOODER}>", subject=f"Re: [{first_case}] Before the batches", body="More.")
    raws[120] = email(sender=f"Pat Example <{PAT}>", subject="My Medicare card")
    raws[121] = email(sender=f"Pat Example <{PAT}>", subject="My Medicare card, again")
    source = ListSource(raws)
    summary = drain(Intake.of(hub), source, parse_email)

    assert summary.total == 150 and len(source.acknowledged) == 150
    notices = rows(hub, NOTICE)
    alone = [row for row in notices if row.folded_into is None]
    (digest,) = rows(hub, "notice-digest")
    assert [row.about for row in alone] == [FLOODER] * cap + [PAT, PAT]
    assert {row.folded_into for row in notices if row.about == FLOODER and row.folded_into is not None} == \
        {digest.id} and len(notices) == 151
    by_case: dict[int | None, list[Outbox]] = {}
    for row in alone:
        by_case.setdefault(row.case_id, []).append(row)
    for case_rows in by_case.values():
        first, *later = case_rows
        assert first.context.get("first_notice") and first.in_reply_to is None
        assert all(row.in_reply_to == first.message_id and "first_notice" not in row.context for row in later)
    assert any(len(case_rows) == 2 for case_rows in by_case.values()), "the reply on the first case is threaded"

"""Delivery: claim due outbox rows with a lease, render, check the caps, send, and mark each row.

Rows are claimed by conditional UPDATEs (pending and due, or a lease that ran out), so two hub processes
never send the same row; plain letters a batch at a time (hub.delivery.claims), their claims and renderings
committed together, the batch's letters counted by the caps with those sent, and the ones the pass does not
get to (it is asked to stop, the mail server is down, half the lease has gone, an error) released for the next
pass. The claim commits before the send; each letter is then sent alone, as a text is; after the server's
acceptance a line in the sent journal and the sent mark's commit come first, alone (on PostgreSQL the mark's
answer is awaited by the next letter's send, before its DATA: hub.delivery.mark_ahead), and the sent message's record
on the case follows (hub.delivery.sent_record): each pass first marks what the journal has and the database
lacks, and records what was marked and not recorded. A crash before the journal's line leaves a lease
that runs out, and the row goes again with the same Message-ID (the sent Maildir writes it once; an
SMTP server would get it twice after a crash between our last byte and the journal's line, so a row whose
lease ran out is in doubt, and is first looked for in the office's Sent folder: hub.delivery.in_doubt; so is a
row whose server's answer to its DATA never came, the connection broken or the wait timed out).
Temporary failures back off exponentially until `give_up_hours`; permanent ones mark the row failed,
record an event and tell the caseworker. A try's fate is written only while the pass's lease on the row holds:
a pass held up past it (its machine asleep) finds the row taken by another pass, which may have sent it, and
leaves it to that pass. A mail server that cannot be reached at all ends the pass's
mail (texts go on): one row counts the try, the rest wait untouched for the next pass, and the outage
is logged once (hub.delivery.outage).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub.cases.sms_optout import opt_out
from hub.core import redact
from hub.core.app import Hub
from hub.core.db import skip_disk_wait
from hub.core.errors import AnswerLost, ConfigError, PermanentError, TemporaryError, Unreachable
from hub.core.models import Case, Event, Outbox
from hub.delivery.caps import CapFacts, automatic_refusal, cap_window_start
from hub.delivery.claims import LEASE, Claimed, Claims
from hub.delivery.in_doubt import IN_DOUBT, InDoubt, NoSentFolder, SentFolder
from hub.delivery.mark_ahead import MarkFailed
from hub.delivery.outage import Outage
from hub.delivery.sent_record import (
    SentMarks,
    SentRecords,
    mark_found_sent,
    mark_journalled,
    record_sent,
    record_unrecorded,
)
from hub.delivery.sms import SENDING, Texts, known_sids, plan_text, send_once
from hub.delivery.transports import Transport, open_transport
from hub.delivery.twilio import RecipientOptedOut
from hub.letters.compose import Outgoing, compose, outgoing_for
from hub.letters.context import CaseFacts, case_context, facts_of_letters, shown_message_id
from hub.letters.enclosures import enclosures
from hub.letters.notice_digest import digest_letter
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.signature import relay_body
from hub.letters.templates import NOTICE_DIGEST, LetterError, Letters
from hub.oauth2.source import TokenSource

log = logging.getLogger(__name__)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)


@dataclass
class DeliveryReport:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def line(self) -> str:
        parts = [f"{n} {outcome}" for outcome, n in sorted(self.counts.items())]
        return "outbox: " + (", ".join(parts) if parts else "nothing due")


def deliver_due(hub: Hub, should_stop: Callable[[], bool] = lambda: False,
                outage: Outage | None = None, tokens: TokenSource | None = None,
                sent_folder: SentFolder | None = None) -> DeliveryReport:
    """Send every outbox row that is due now (stopping between rows when asked); returns what happened to them.
    `outage` carries an outage of the mail server from one pass to the next, `tokens` the OAuth 2.0 token (the
    daemon keeps both); `sent_folder` is where a letter in doubt is looked for (closed at the end of the pass;
    none: such a letter is decided as with a folder that cannot be searched)."""
    return asyncio.run(_deliver_due(hub, should_stop, outage or Outage(), tokens,
                                    InDoubt(hub, sent_folder or NoSentFolder())))


async def _deliver_due(hub: Hub, should_stop: Callable[[], bool], outage: Outage,
                       tokens: TokenSource | None, doubt: InDoubt) -> DeliveryReport:
    report = DeliveryReport()
    letters = Letters(hub.config.resolve(hub.config.letters.folder))
    claims = Claims()
    texts = Texts(hub)
    mark_journalled(hub)
    record_unrecorded(hub)
    marks = SentMarks(hub)
    records = SentRecords(hub, marks)
    mail_down = False  # the mail server was unreachable in this pass: only texts go on
    try:
        async with open_transport(hub.config, tokens) as transport:
            while not should_stop():
                now = hub.clock.now()
                # A batch's claims and renderings commit together, before its sends; without waiting for the
                # disk on PostgreSQL: visible to every other pass at once, so no two send a row; the record's
                # commit, a moment later, flushes it. A crash of the database server that lost it would lose the
                # mark after it too (hub.delivery.sent_record), and the sent journal's line decides the letter.
                marks.settle()  # the caps count the letters sent so far: the last one's mark too
                batch, prepared = _claim_and_prepare(hub, letters, claims, now, texts_only=mail_down)
                if not batch:
                    break
                unsent = [claimed.row_id for claimed in batch]
                # A letter whose lease ran out could be another pass's: a batch slowed by a slow server stops
                # well before that, as the rest of it is not in doubt for the pass that takes it then.
                in_time = now + LEASE / 2
                try:
                    for claimed, ready in zip(batch, prepared, strict=True):
                        if should_stop() or (mail_down and claimed.channel != "sms") or hub.clock.now() >= in_time:
                            break  # the rest of the batch waits, released, for the next pass
                        unsent.remove(claimed.row_id)
                        if ready is None:
                            report.add(await _deliver_text(hub, letters, texts, marks, claims, claimed.row_id))
                        elif ready.outgoing is None:
                            assert ready.refusal is not None
                            report.add(ready.refusal[0])
                        else:
                            report.add(await _deliver_one(hub, transport, marks, claims, claimed.row_id,
                                                          ready.outgoing, now, outage,
                                                          doubt if claimed.in_doubt else None, records))
                            mail_down = outage.is_on
                finally:
                    claims.release(hub, unsent)
    finally:
        try:
            records.close()
        finally:
            try:
                marks.close()  # its connection's reset may fail with the server: the records went first
            finally:
                await asyncio.to_thread(doubt.close)
    if report.counts:
        log.info("%s", report.line())
    return report


@dataclass(frozen=True)
class _Prepared:
    outgoing: Outgoing | None
    refusal: tuple[str, str] | None = None  # (state, reason) when the row is not to be sent


async def _deliver_one(hub: Hub, transport: Transport, marks: SentMarks, claims: Claims, row_id: int,
                       outgoing: Outgoing, now: datetime, outage: Outage, doubt: InDoubt | None,
                       records: SentRecords) -> str:
    """Send one letter; `doubt` (for a letter in doubt) first asks the Sent folder whether it went already."""
    if doubt is not None and not hub.config.outbound.url.startswith("maildir:"):  # a Maildir write is idempotent
        outcome = await asyncio.to_thread(doubt.outcome, row_id, outgoing.message_id)
        if outcome.verdict == "sent":
            assert outcome.copy is not None
            mark_found_sent(hub, row_id, outcome.copy.at or now, outcome.copy.provider_id)
            return "sent"
        if outcome.verdict == "wait":
            return _retry_or_fail(hub, row_id, claims, outcome.reason, now, quietly=True, in_doubt=True)
    raw = compose(outgoing, hub.config, hub.refs, now)
    waiting = partial(_mail_waiting, hub, marks)  # asked only when the outage's line is logged
    try:
        envelope_sender = hub.refs.bounce_address(hub.config.office.address, row_id)  # VERP: a bounce names its row
        with marks.mark(row_id, now, settled_by_send=True) as mark:
            provider_id = await transport.send(raw, envelope_sender, outgoing.recipient, outgoing.message_id,
                                               before_data=marks.settle)
            mark.commit(provider_id)  # first, and alone: see hub.delivery.sent_record
    except ConfigError:
        claims.release(hub, [row_id])  # nothing can go until the configuration is fixed: the pass stops
        raise
    except MarkFailed:
        claims.release(hub, [row_id])  # the last letter's mark failed before this one's DATA: this one did not go
        raise
    # A failed letter's fate is written before the outage's line, whose count settles the last letter's mark:
    # a mark that failed then stops the pass, and this letter must not be left claimed by it.
    except Unreachable as error:
        fate = _retry_or_fail(hub, row_id, claims, str(error), now, quietly=True)
        outage.refused(str(error), now, waiting)
        return fate
    except AnswerLost as error:  # as after a crash in the same place: looked for in the Sent folder first
        fate = _retry_or_fail(hub, row_id, claims, str(error), now, in_doubt=True)
        outage.answered(now, waiting)
        return fate
    except TemporaryError as error:
        fate = _retry_or_fail(hub, row_id, claims, str(error), now)
        outage.answered(now, waiting)
        return fate
    except PermanentError as error:
        fate = _give_up(hub, row_id, claims, str(error), now)
        outage.answered(now, waiting)
        return fate
    outage.answered(now, waiting)
    records.add(row_id, outgoing, raw)
    return "sent"


async def _deliver_text(hub: Hub, letters: Letters, texts: Texts, marks: SentMarks, claims: Claims,
                        row_id: int) -> str:
    now = hub.clock.now()
    with hub.sessions.begin() as session:
        row = session.get_one(Outbox, row_id)
        case = session.get(Case, row.case_id) if row.case_id else None
        if row.automatic:
            reason = automatic_refusal(session, hub, row, now)
            if reason:
                _close(session, hub, row, "suppressed", reason, now)
                return "suppressed"
        plan = plan_text(session, hub, letters, row, case, now)
        if plan.refusal is not None:
            _close(session, hub, row, *plan.refusal, now)
            return plan.refusal[0]
        if plan.wait_until is not None:
            row.state, row.not_before, row.lease_until, row.lease_owner = "pending", plan.wait_until, None, None
            row.error = f"quiet hours: waits until {plan.wait_until:%Y-%m-%d %H:%M} UTC"
            return "waiting"
        if plan.shortened and case is not None:
            _tell_caseworker(session, hub, case, "Text shortened", f"The {row.letter} text to {row.recipient} was "
                             f"cut to {hub.config.sms.max_segments if hub.config.sms else 0} messages; not sent: "
                             f"{plan.shortened}", now)
        row.provider_id = SENDING  # committed before the send: a crash after it leaves this mark
        body = plan.body or ""
        recipient, created_at, message_id = row.recipient, row.created_at, row.message_id
        known = known_sids(session, recipient, created_at) if plan.check_first else None
    try:
        line = texts.line()
        with marks.mark(row_id, now) as mark:
            provider_id = await asyncio.to_thread(send_once, line, recipient, body, created_at, known)
            mark.commit(provider_id)
    except ConfigError as error:
        claims.release(hub, [row_id], str(error))  # mail goes on; texts wait until the configuration is fixed
        log.error("outbox %d: %s", row_id, error)
        return "waiting"
    except RecipientOptedOut as error:
        return _give_up(hub, row_id, claims, f"{error}: the number is now recorded as opted out", now,
                        opted_out=recipient)
    except TemporaryError as error:
        return _retry_or_fail(hub, row_id, claims, str(error), now)
    except PermanentError as error:
        return _give_up(hub, row_id, claims, str(error), now)
    office = hub.config.sms.number if hub.config.sms else hub.config.office.address
    record_sent(hub, row_id, Outgoing(recipient, "", body, message_id, None), body.encode(), sender=office)
    return "sent"


def _claim_and_prepare(hub: Hub, letters: Letters, claims: Claims, now: datetime,
                       texts_only: bool) -> tuple[list[Claimed], list[_Prepared | None]]:
    """The next batch, claimed, and each letter's message (None for a text, prepared on its own path), all
    committed together."""
    preparing = None
    try:
        with hub.sessions.begin() as session:
            skip_disk_wait(session.connection())
            batch = claims.next_batch(session, now, texts_only)
            if not batch or batch[0].channel == "sms":
                return batch, [None] * len(batch)
            found = {row.id: (row, case) for row, case in session.execute(
                _ROWS_AND_CASES, {"ids": [claimed.row_id for claimed in batch]}).all()}
            caps = CapFacts.of_batch(session, (row for row, _ in found.values()), cap_window_start(hub, now))
            facts = facts_of_letters(session, hub.config, (
                (case.id, shown_message_id(row.context)) for row, case in found.values()
                if case is not None and _is_rendered_from_case(row)))
            renderings: list[dict[str, Any]] = []
            prepared: list[_Prepared | None] = []
            for claimed in batch:
                preparing = claimed.row_id
                prepared.append(_prepare(session, hub, letters, *found[claimed.row_id], now, caps, facts,
                                         renderings))
            if renderings:
                session.connection().execute(_KEEP_RENDERING, renderings)
    except Exception:
        if preparing is not None:  # the row keeps its lease, so that the next pass goes past it
            claims.hold(hub, preparing, now)
        raise
    return batch, prepared


def _prepare(session: Session, hub: Hub, letters: Letters, row: Outbox, case: Case | None, now: datetime,
             caps: CapFacts, facts: dict[tuple[int, int | None], CaseFacts],
             renderings: list[dict[str, Any]]) -> _Prepared:
    """The message to send, rendered once (from the batch's `facts`; its UPDATE's values added to `renderings`);
    or why it must not go (the row then closed)."""
    refusal = None
    if row.automatic and (reason := automatic_refusal(session, hub, row, now, caps)):
        refusal = ("suppressed", reason)
    elif row.subject is None or row.body is None:
        try:
            subject, body = _render(session, hub, letters, row, case, now, facts)
        except LetterError as error:
            refusal = ("failed", str(error))
        else:
            context = row.context if case is None else {
                **row.context, "enclosures": enclosures(session, hub.config, case, row.letter, row.context, now)}
            renderings.append(_keep_rendering(row, subject, body, context))
    if refusal is not None:
        _close(session, hub, row, *refusal, now)
        return _Prepared(None, refusal)
    caps.add(row)
    return _Prepared(outgoing_for(session, row, case, hub.config))


def _keep_rendering(row: Outbox, subject: str, body: str, context: dict[str, Any]) -> dict[str, Any]:
    """The rendered letter set on the row object as what the database holds, and the values of its prebuilt
    UPDATE (one statement writes a batch's): the ORM's flush of the changed object cost as much as rendering
    the letter's text."""
    for name, value in (("subject", subject), ("body", body), ("context", context)):
        set_committed_value(row, name, value)
    return {"row_id": row.id, "subject": subject, "body": body, "context": context}


_KEEP_RENDERING = update(Outbox).where(Outbox.id == bindparam("row_id")).values(
    subject=bindparam("subject"), body=bindparam("body"), context=bindparam("context"))

# A batch's rows and their cases (with their constituents) in one round trip, as the ORM objects the preparation
# changes.
_ROWS_AND_CASES = (select(Outbox, Case).outerjoin(Case, Case.id == Outbox.case_id)
                   .where(Outbox.id.in_(bindparam("ids", expanding=True))))


def _is_rendered_from_case(row: Outbox) -> bool:
    """The row's letter is still to be rendered from its case's facts (`case_context`)."""
    return (row.subject is None or row.body is None) and row.letter not in (NOTICE_DIGEST, "relay")


def _render(session: Session, hub: Hub, letters: Letters, row: Outbox, case: Case | None, now: datetime,
            facts: dict[tuple[int, int | None], CaseFacts]) -> tuple[str, str]:
    if row.letter == NOTICE_DIGEST:
        return digest_letter(session, row, now)
    if row.letter == "relay":
        staff = hub.config.staff_member(str(row.context.get("staff", "")))
        subject = f"Re: {case.subject}" if case and case.subject else f"Your case with {hub.config.office.name}"
        return subject, relay_body(str(row.context.get("text", "")), staff, hub.config.office.name)
    if case is None:
        raise LetterError(f"letter {row.letter}: outbox row {row.id} has no case to fill it in from")
    known = facts.get((case.id, shown_message_id(row.context)))
    letter = letters.render(row.letter, case_context(session, hub.config, case, now,
                                                     {**row.context, "letter": row.letter}, known))
    return letter.subject, letter.body


TAKEN_OVER = "taken over"  # a pass's outcome for a row whose lease ran out and another pass took


def _give_up(hub: Hub, row_id: int, claims: Claims, reason: str, now: datetime, opted_out: str | None = None) -> str:
    """A permanent failure: the row is failed and the caseworker told (and a refused number recorded)."""
    with hub.sessions.begin() as session:
        row = claims.held_row(session, row_id)  # before the opt-out, which cancels the texts waiting for it
        if opted_out:
            opt_out(session.connection(), opted_out, "carrier", reason, now)
        if row is None:
            return TAKEN_OVER
        row.attempts += 1
        _close(session, hub, row, "failed", reason, now)
    return "failed"


def _mail_waiting(hub: Hub, marks: SentMarks) -> int:
    """Mail in the outbox not sent yet, due or not; the last letter's mark, on its way to the database, settled
    first, or the letter that just went may be counted as waiting."""
    marks.settle()
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.state.in_(("pending", "sending")), Outbox.channel != "sms")) or 0


def _retry_or_fail(hub: Hub, row_id: int, claims: Claims, error: str, now: datetime, quietly: bool = False,
                   in_doubt: bool = False) -> str:
    """A temporary failure: the row waits its next pause, or is given up after `give_up_hours`. `quietly`:
    the failure is logged by itself, so the row's own line goes to DEBUG; `in_doubt`: the row stays in doubt."""
    with hub.sessions.begin() as session:
        if (row := claims.held_row(session, row_id)) is None:
            return TAKEN_OVER
        row.attempts += 1
        if in_doubt:
            row.provider_id = IN_DOUBT
        if now - row.created_at >= timedelta(hours=hub.config.outbound.give_up_hours):
            _close(session, hub, row, "failed", f"gave up after {row.attempts} attempts: {error}", now)
            return "failed"
        pause = min(FIRST_RETRY * 2 ** min(row.attempts - 1, 10), LONGEST_RETRY)  # 2**10 minutes is past the cap
        row.state, row.not_before, row.lease_until, row.lease_owner, row.error = (
            "pending", now + pause, None, None, error[:2000])
    log.log(logging.DEBUG if quietly else logging.WARNING, "outbox %d: temporary failure, retrying in %s: %s",
            row_id, pause, redact.addresses(hub.refs.redact(error)))
    return "retrying"


def _close(session: Session, hub: Hub, row: Outbox, state: str, reason: str, now: datetime) -> None:
    """A row that will not be sent: failed or suppressed, with an event, and the caseworker told of a failure."""
    row.state, row.error, row.lease_until, row.lease_owner = state, reason[:2000], None, None
    session.add(Event(case_id=row.case_id, kind=f"delivery-{state}", actor="hub", via="rule", at=now,
                      detail=f"{row.letter} to {row.recipient}: {reason}"[:4000]))
    level = logging.WARNING if state == "failed" else logging.INFO
    log.log(level, "outbox %d (%s): %s: %s", row.id, row.letter, state, redact.addresses(hub.refs.redact(reason)))
    if state == "failed" and row.letter != "caseworker-notification" and row.case_id is not None:
        _tell_caseworker(session, hub, session.get_one(Case, row.case_id), f"Delivery failed: {row.letter}",
                         f"The {row.letter} to {row.recipient} was not delivered: {reason}", now)


def _tell_caseworker(session: Session, hub: Hub, case: Case, notice: str, text: str, now: datetime) -> None:
    enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter="caseworker-notification",
            recipient=case.assignee or hub.config.office.intake_address, refs=hub.refs,
            domain=hub.config.office.domain, now=now, automatic=AUTO_GENERATED,
            context={"notice": notice, "text": text[:2000]})

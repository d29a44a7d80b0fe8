"""Numbers that asked for no more texts: STOP (or the carrier's refusal) in, START out.

Opting out is immediate and complete: the number is recorded, texts still waiting in the outbox for it
go by email where the constituent has an address and are cancelled where not, and the cases switch to
email. Delivery checks the record again before every text, so nothing scheduled later slips through.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.core.models import Case, Outbox, Party, SmsOptOut

_OPTED_OUT = select(SmsOptOut.at, SmsOptOut.via).where(SmsOptOut.number == bindparam("number"))
_WAITING = (select(Outbox.id, Outbox.letter, Party.email)
            .outerjoin(Case, Case.id == Outbox.case_id).outerjoin(Party, Party.id == Case.constituent_id)
            .where(Outbox.channel == "sms", Outbox.recipient == bindparam("number"),
                   Outbox.state.in_(("pending", "sending"))))
SMS_ONLY_LETTERS = ("sms-help",)


def opted_out(connection: Connection, number: str) -> tuple[datetime, str] | None:
    """(when, how) the number opted out, or None."""
    row = connection.execute(_OPTED_OUT, {"number": number}).first()
    return (row.at, row.via) if row else None


def opt_out(connection: Connection, number: str, via: str, detail: str, now: datetime) -> tuple[int, int]:
    """Record the opt-out and move what waits for the number; returns (texts moved to email, cancelled)."""
    if opted_out(connection, number) is None:
        try:
            with connection.begin_nested():
                connection.execute(insert(SmsOptOut), {"number": number, "via": via, "detail": detail[:500],
                                                       "at": now})
        except IntegrityError:  # another writer recorded it a moment ago: the same outcome
            pass
    moved = cancelled = 0
    # A lease still running may belong to a send in flight; its delivery checks the record before sending.
    for row_id, letter, email in connection.execute(_WAITING, {"number": number}).all():
        if email and letter not in SMS_ONLY_LETTERS:
            connection.execute(update(Outbox).where(Outbox.id == row_id).values(
                channel="email", recipient=email, subject=None, body=None,
                error="moved to email: the number opted out of texts"))
            moved += 1
        else:
            connection.execute(update(Outbox).where(Outbox.id == row_id).values(
                state="cancelled", lease_until=None, lease_owner=None,
                error="the number opted out of texts and there is no email address"))
            cancelled += 1
    parties = select(Party.id).where(Party.phone == number, Party.role == "constituent", Party.email.is_not(None))
    connection.execute(update(Case).where(Case.constituent_id.in_(parties), Case.contact_channel == "sms")
                       .values(contact_channel="email"))
    return moved, cancelled


def opt_in(connection: Connection, number: str, case_id: int | None) -> bool:
    """Texts may go to the number again (and `case_id` switches back to texts); False when it was not opted out."""
    removed = connection.execute(delete(SmsOptOut).where(SmsOptOut.number == number)).rowcount
    if case_id is not None:
        connection.execute(update(Case).where(Case.id == case_id).values(contact_channel="sms"))
    return bool(removed)

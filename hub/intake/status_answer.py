"""The answer to STATUS (ESTADO): the letter `case-status`, at once, to the constituent's own number or address.

It goes to the number or address on file, never to whatever the message claims: a text is answered on the
number the carrier gives, mail at the address on the case (so forged mail only sends the answer to its true
owner). One answer an hour to a number or address, however often it asks: a loop, or a prankster, cannot
make the office's line send more.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, func, select

from hub.cases.case_status import case_steps
from hub.core.config import Config
from hub.core.models import Case, Outbox
from hub.core.refs import References
from hub.intake.message import InboundMessage
from hub.intake.route import AnswerStatus
from hub.intake.thread import CaseFacts
from hub.letters.outbox import AUTO_REPLIED, enqueue
from hub.letters.templates import CASE_STATUS

MAX_LISTED = 3  # open cases named in one answer (the most recent): a text has room for no more
INTERVAL = timedelta(hours=1)  # between two answers to one number or address

_LAST_ANSWER = select(func.max(Outbox.created_at)).where(
    Outbox.letter == CASE_STATUS, Outbox.recipient == bindparam("recipient"), Outbox.created_at > bindparam("since"))
_CASE_IDS = select(Case.ref, Case.id).where(Case.ref.in_(bindparam("refs", expanding=True)))


def answer_status(connection: Connection, effect: AnswerStatus, message: InboundMessage, case: CaseFacts | None,
                  row_id: int, config: Config, refs: References, now: datetime) -> list[dict[str, Any]]:
    """Queue the answer unless one went to the same recipient within the hour; returns the events: one on each
    case the answer names (or on the message's case when it names none), saying whether it was answered.

    The recipient is the constituent's own number or address on file (hub.intake.thread.own_cases found the
    case by that very value); the sender only when on no case: a text, answered with nothing about any case."""
    recipient = message.sender if case is None else \
        case.constituent_phone if message.channel == "sms" else case.constituent_email
    if recipient is None:
        return []
    said = (message.text if message.channel == "sms" else message.subject).strip().upper()
    case_ids = {row.ref: row.id for row in connection.execute(_CASE_IDS, {"refs": list(effect.cases)})} \
        if effect.cases else {}
    on: list[int | None] = [case_ids[ref] for ref in effect.cases if ref in case_ids] or \
        [case.case_id if case else None]
    last = connection.execute(_LAST_ANSWER, {"recipient": recipient, "since": now - INTERVAL}).scalar()
    if last is not None:
        local = last.astimezone(ZoneInfo(config.office.timezone))
        detail = (f"{said} not answered: the last answer to this {_what(message)} went at {local:%H:%M}, and "
                  f"one goes at most every {int(INTERVAL.total_seconds() // 60)} minutes")
        return [_event(on[0], row_id, "status-not-answered", detail, message, now)]
    steps = case_steps(connection, config, effect.cases, effect.language, now)
    enqueue(connection, case_id=case.case_id if case else None, case_ref=case.ref if case else None,
            letter=CASE_STATUS, recipient=recipient, channel=message.channel, refs=refs, domain=config.office.domain,
            now=now, in_reply_to=message.message_id, automatic=AUTO_REPLIED,
            context={"status": steps, "language": effect.language})
    named = f"the status of {len(steps)} open case(s)" if steps else "there is no open case"
    return [_event(case_id, row_id, "status-answered", f"{said}: answered by {message.channel} with {named}",
                   message, now) for case_id in on]


def _what(message: InboundMessage) -> str:
    return "number" if message.channel == "sms" else "address"


def _event(case_id: int | None, row_id: int, kind: str, detail: str, message: InboundMessage,
           now: datetime) -> dict[str, Any]:
    return dict(case_id=case_id, message_id=row_id, kind=kind, detail=detail, actor=message.sender,
                via=message.channel, at=now)

"""A message entering triage: one notice to the intake address, with the message, why it is held, and the
cases it likely belongs to.

Only what a person must place is told (routing adds TellIntake to those): auto-replies, bounces about nothing
of ours and keywords texted from unknown numbers, already answered, wait in the queue without a notice. A
flood from one sender gets a few notices and then one digest (hub.letters.notice_digest), like the notices
on cases. The notice's Message-ID is what a reply to it names (hub.intake.triage_reply).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from hub.cases.triage_queue import DISMISSED, WAITING, Likely, likely_cases, triage_row
from hub.cases.views import iso
from hub.core.config import Config
from hub.core.refs import References
from hub.intake.identify import role_of
from hub.intake.message import InboundMessage
from hub.intake.route import Decision, control_number
from hub.letters.notice_digest import enqueue_capped
from hub.letters.outbox import AUTO_GENERATED
from hub.letters.templates import TRIAGE_NOTICE
from hub.letters.triage_letters import Held, triage_notice


def tell_intake(connection: Connection, message: InboundMessage, decision: Decision, row_id: int, config: Config,
                refs: References, now: datetime) -> None:
    """Queue the notice of the held message `row_id`."""
    likely = likely_for(connection, message, config)
    held = Held(row_id, message.date or now, decision.kind, message.channel, message.sender, message.subject,
                decision.reason)
    subject, body = triage_notice(held, message.sender_name, message.new_text, [case.line() for case in likely],
                                  config.office.timezone)
    enqueue_capped(connection, config, refs, now, letter=TRIAGE_NOTICE, about=message.sender, case_id=None,
                   case_ref=None, recipient=config.office.intake_address, automatic=AUTO_GENERATED,
                   subject=subject, body=body,
                   context={"message_row_id": row_id, "notice": f"item {row_id}: {decision.reason}"})


def likely_for(connection: Connection, message: InboundMessage, config: Config) -> list[Likely]:
    """The cases a held message likely belongs to (hub.cases.triage_queue.likely_cases)."""
    agency = role_of(message.sender, config).agency
    return likely_cases(connection, sender=message.sender, sender_name=message.sender_name,
                        agency=agency.key if agency else None, number=control_number(agency, message),
                        text=f"{message.subject}\n{message.new_text}")


def item_view(connection: Connection, item_id: int, config: Config) -> dict[str, Any]:
    """One triage item for `hub triage show`: the message, why it was held, where it stands, its likely cases."""
    row = triage_row(connection, item_id)
    message = InboundMessage(channel=row.channel, source=row.source, dedupe_key="", raw=b"", sender=row.sender,
                             sender_name=row.sender_name, subject=row.subject, new_text=row.body)
    state = "waiting" if row.disposition == WAITING else "dismissed" if row.disposition == DISMISSED else "filed"
    return {"id": row.id, "state": state, "reason": row.reason, "kind": row.kind, "channel": row.channel,
            "sender": row.sender, "sender_name": row.sender_name, "subject": row.subject, "body": row.body,
            "at": iso(row.at), "received_at": iso(row.received_at),
            "likely_cases": [case.as_json() for case in likely_for(connection, message, config)]
            if state == "waiting" else []}

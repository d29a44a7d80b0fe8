"""The caps on automatic mail: why an automatic message must not go now (a robot, a bounced address, too many to
one address or on one case in the window), from what the database holds and the batch's letters that are to go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    ScalarSelect,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from hub.core.app import Hub
from hub.core.models import Outbox, Party, UtcDateTime
from hub.core.robot_addresses import BOUNCE_SENDERS, ROBOT_ADDRESS


@dataclass
class CapFacts:
    """For some recipients and cases: when each address last bounced, and the automatic messages counted by the
    caps (sent in the window, and those of the batch that are to go: `add`)."""

    bounced: dict[str, datetime] = field(default_factory=dict)
    to_address: Counter[str] = field(default_factory=Counter)
    on_case: Counter[int | None] = field(default_factory=Counter)

    @classmethod
    def of_row(cls, session: Session, row: Outbox, since: datetime) -> CapFacts:
        bounced, to_address, on_case = session.connection().execute(
            _CAP_FACTS, {"recipient": row.recipient, "case_id": row.case_id, "since": since}).one()
        return cls({row.recipient: bounced} if bounced else {}, Counter({row.recipient: to_address or 0}),
                   Counter({row.case_id: on_case or 0}))

    @classmethod
    def of_batch(cls, session: Session, rows: Iterable[Outbox], since: datetime) -> CapFacts:
        """One round trip for a batch (the single row's query, once a letter, was a tenth of a pass)."""
        automatic = [row for row in rows if row.automatic]
        if not automatic:
            return cls()
        recipients = sorted({row.recipient for row in automatic})
        case_ids = sorted({row.case_id for row in automatic if row.case_id is not None})
        facts = cls()
        for part, recipient, case_id, bounced, n in session.connection().execute(
                _BATCH_FACTS, {"recipients": recipients, "case_ids": case_ids, "since": since}):
            if part == _BOUNCED and bounced:
                facts.bounced[str(recipient)] = bounced
            elif part == _TO_ADDRESS:
                facts.to_address[str(recipient)] = n
            elif part == _ON_CASE:
                facts.on_case[case_id] = n
        return facts

    def add(self, row: Outbox) -> None:
        """A letter of the batch that is to go: counted as if sent."""
        if row.automatic and row.letter != "caseworker-notification":  # as _RECENT_AUTOMATIC counts them
            self.to_address[row.recipient] += 1
            self.on_case[row.case_id] += 1


def automatic_refusal(session: Session, hub: Hub, row: Outbox, now: datetime, facts: CapFacts | None = None) -> str:
    """Why automatic mail must not go to this address now, or "". `facts`: the batch's (else read for the row)."""
    limits = hub.config.limits
    local = row.recipient.split("@", 1)[0]
    if ROBOT_ADDRESS.match(local) or BOUNCE_SENDERS.match(local):
        return "automatic mail is never sent to a no-reply or mailer address"
    if facts is None:
        facts = CapFacts.of_row(session, row, cap_window_start(hub, now))
    bounced = facts.bounced.get(row.recipient)
    if bounced and bounced > now - timedelta(days=limits.bounce_hold_days):
        return f"the address bounced on {bounced:%Y-%m-%d}; no automatic mail for {limits.bounce_hold_days} days"
    if hub.config.staff_member(row.recipient) or row.recipient == hub.config.office.intake_address:
        return ""  # the office's own people: no robot loop runs through them, and no notice may be lost
    if facts.to_address[row.recipient] >= limits.auto_mail_per_address:
        return (f"cap: {limits.auto_mail_per_address} automatic messages to this address in "
                f"{limits.auto_mail_window_minutes} minutes")
    if row.case_id is not None and facts.on_case[row.case_id] >= limits.auto_mail_per_case:
        return (f"cap: {limits.auto_mail_per_case} automatic messages on this case in "
                f"{limits.auto_mail_window_minutes} minutes")
    return ""


def cap_window_start(hub: Hub, now: datetime) -> datetime:
    return now - timedelta(minutes=hub.config.limits.auto_mail_window_minutes)


_RECENT_AUTOMATIC = (Outbox.automatic != "", Outbox.state == "sent", Outbox.sent_at >= bindparam("since"),
                     Outbox.letter != "caseworker-notification")


def _recent_automatic(*conditions: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(Outbox).where(*_RECENT_AUTOMATIC, *conditions).scalar_subquery()


# What the caps ask of one recipient, in one round trip built once: each part keeps its own index range.
_CAP_FACTS = select(select(func.max(Party.bounced_at)).where(Party.email == bindparam("recipient")).scalar_subquery(),
                    _recent_automatic(Outbox.recipient == bindparam("recipient")),
                    _recent_automatic(Outbox.case_id == bindparam("case_id")))
# The same of a batch's recipients and cases, in one round trip: its parts' rows (part, recipient, case id, last
# bounce, count), each part with the columns it fills and typed NULLs in the others.
_BOUNCED, _TO_ADDRESS, _ON_CASE = "bounced", "to-address", "on-case"
_NO_CASE, _NO_COUNT = cast(null(), Integer), cast(null(), Integer)
_BATCH_FACTS: CompoundSelect[Any] = union_all(
    select(literal(_BOUNCED), Party.email, _NO_CASE, func.max(Party.bounced_at), _NO_COUNT)
    .where(Party.email.in_(bindparam("recipients", expanding=True))).group_by(Party.email),
    select(literal(_TO_ADDRESS), Outbox.recipient, _NO_CASE, cast(null(), UtcDateTime), func.count())
    .where(*_RECENT_AUTOMATIC, Outbox.recipient.in_(bindparam("recipients", expanding=True)))
    .group_by(Outbox.recipient),
    select(literal(_ON_CASE), cast(null(), String), Outbox.case_id, cast(null(), UtcDateTime), func.count())
    .where(*_RECENT_AUTOMATIC, Outbox.case_id.in_(bindparam("case_ids", expanding=True))).group_by(Outbox.case_id))

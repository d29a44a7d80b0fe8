"""What a text in the outbox needs before and during its send: the opt-out check, quiet hours, the SMS
letter within the segment limit, and a send that happens once.

Texts answering something that just happened (the acknowledgement of a text that just arrived, the
HELP answer, a caseworker's own reply) go at once; everything else waits while it is night where the
constituent is. Twilio has no idempotency key, so the row is marked before the send: a row found
with the mark had an attempt whose outcome was never recorded, and Twilio is asked whether that text
went before it is sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.sms_optout import opted_out
from hub.core.app import Hub
from hub.core.errors import ConfigError
from hub.core.models import Case, Outbox
from hub.core.phones import zone_of
from hub.delivery.quiet_hours import quiet_until
from hub.delivery.twilio import CLOCK_SKEW, SmsLine
from hub.letters.context import case_context, office_context
from hub.letters.outbox import AUTO_REPLIED
from hub.letters.sms_text import trim_to_segments
from hub.letters.templates import LetterError, Letters

SENDING = "twilio:sending"  # provider_id while a send is in flight
FRESH = timedelta(hours=1)  # an automatic answer older than this no longer answers something that just arrived


@dataclass(frozen=True)
class TextPlan:
    body: str | None = None
    refusal: tuple[str, str] | None = None  # (state, reason) when the text must not go
    wait_until: datetime | None = None      # quiet hours: try again then
    shortened: str = ""                     # what the segment limit cut off the letter
    check_first: bool = False               # an earlier attempt may have reached Twilio


class Texts:
    """The SMS line for one delivery pass, opened on the first text."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._line: SmsLine | None = None

    def line(self) -> SmsLine:
        if self._line is None:
            sms = self._hub.config.sms
            if sms is None:
                raise ConfigError(f"{self._hub.config.path}: a text is waiting in the outbox but there is no [sms] "
                                  "section")
            self._line = SmsLine(sms, self._hub.config.limits.max_attachment_bytes)
        return self._line


def plan_text(session: Session, hub: Hub, letters: Letters, row: Outbox, case: Case | None,
              now: datetime) -> TextPlan:
    """Whether, when and what to send for a text row; renders the letter once and keeps it on the row."""
    sms = hub.config.sms
    if sms is None:
        return TextPlan(refusal=("failed", "no [sms] section in the configuration: texts cannot be sent"))
    stopped = opted_out(session.connection(), row.recipient)
    if stopped is not None:
        when, via = stopped
        how = "texted STOP" if via == "keyword" else "is opted out at the carrier"
        return TextPlan(refusal=("suppressed", f"the number {how} (since {when:%Y-%m-%d}); no texts go to it"))
    wait = None if _answers_now(row, now) else quiet_until(now, zone_of(row.recipient, hub.config.office.timezone),
                                                          sms.quiet_start, sms.quiet_end)
    if wait is not None:
        return TextPlan(wait_until=wait)
    shortened = ""
    if row.body is None:
        try:
            text = letters.render(row.letter, _context(session, hub, row, case, now), channel="sms").body
        except LetterError as error:
            return TextPlan(refusal=("failed", str(error)))
        row.body, shortened = trim_to_segments(text, sms.max_segments)
        row.subject = ""
    return TextPlan(body=row.body, shortened=shortened, check_first=row.provider_id == SENDING)


def send_once(line: SmsLine, recipient: str, body: str, since: datetime, known: set[str] | None) -> str:
    """Send the text unless Twilio already has it from an attempt whose outcome was lost (`known`, the
    SIDs other rows to the recipient hold, is given when an attempt may have been lost); its SID."""
    if known is not None:
        already = line.find_sent(recipient, body, since, known)
        if already is not None:
            return already
    return line.send(recipient, body)


def known_sids(session: Session, recipient: str, since: datetime) -> set[str]:
    """The SIDs of texts to `recipient` already recorded on other rows: Twilio's copies of those are not
    this row's lost attempt, even with the same words."""
    return set(session.scalars(select(Outbox.provider_id).where(
        Outbox.channel == "sms", Outbox.recipient == recipient, Outbox.state == "sent",
        Outbox.sent_at >= since - CLOCK_SKEW, Outbox.provider_id.is_not(None))))


def _answers_now(row: Outbox, now: datetime) -> bool:
    return row.letter == "relay" or (row.automatic == AUTO_REPLIED and now - row.created_at <= FRESH)


def _context(session: Session, hub: Hub, row: Outbox, case: Case | None, now: datetime) -> dict[str, Any]:
    extra = {**row.context, "letter": row.letter}
    return case_context(session, hub.config, case, now, extra) if case else office_context(hub.config, now, extra)

"""The text of the hub's mail about triage: the notice of one held message, and the weekday list of what waits.

Written by the hub, not an office template: the notice carries the commands a reply answers it with, and its
Message-ID is how a reply names the message it places (hub.intake.triage_reply).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.letters.context import spoken_date

# The weekday list shows this many messages and counts the rest.
SHOWN_WAITING = 60
ANSWERS = ("#case REF         file it on that case, as if it had carried the reference",
           "#new              open a new case for the sender",
           "#dismiss REASON   take it out of triage, with the reason")


@dataclass(frozen=True)
class Held:
    """A message in triage as the letters show it."""

    item_id: int
    received: datetime
    kind: str
    channel: str
    sender: str
    subject: str
    reason: str


def local_time(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{spoken_date(local.date())} {local:%H:%M}"


def triage_notice(held: Held, sender_name: str, body: str, likely: Sequence[str],
                  timezone: str) -> tuple[str, str]:
    """The subject and body of the notice of one held message; `likely` are the lines of its likely cases."""
    subject = f"In triage: {held.subject[:80] or '(no subject)'}"
    sender = f"{sender_name} <{held.sender}>" if sender_name else held.sender
    lines = [f"This {held.kind} {'text' if held.channel == 'sms' else 'message'} is waiting in triage "
             f"(item {held.item_id}).", "", f"Why it is there: {held.reason}", "",
             "----- Message -----", f"From:     {sender}", f"Date:     {local_time(held.received, timezone)}"]
    if held.subject:
        lines.append(f"Subject:  {held.subject}")
    lines += ["", body.strip() or "(no text)", "----- End of message -----", ""]
    if likely:
        lines += ["Likely cases:", *(f"- {line}" for line in likely)]
    else:
        lines.append("No likely case was found.")
    lines += ["", "To place it, reply to this email with one line at the top:", *(f"  {a}" for a in ANSWERS), "",
              f"Or on the command line: hub triage file {held.item_id} REF | hub triage new {held.item_id} | "
              f"hub triage dismiss {held.item_id} REASON"]
    return subject, "\n".join(lines)


def triage_digest(waiting: Sequence[Held], today: str, timezone: str) -> tuple[str, str]:
    """The weekday list of the messages waiting in triage, oldest first."""
    count = len(waiting)
    messages = f"{count} message{'' if count == 1 else 's'}"
    subject = f"Triage: {messages} waiting ({today})"
    lines = [f"{messages} {'is' if count == 1 else 'are'} waiting in triage, oldest first:", ""]
    for held in waiting[:SHOWN_WAITING]:
        lines += [f"{held.item_id:>6}  {local_time(held.received, timezone)}  {held.kind}  {held.sender}  "
                  f"{held.subject[:60]}", f"        {held.reason[:200]}"]
    if count > SHOWN_WAITING:
        lines.append(f"... and {count - SHOWN_WAITING} more: hub triage list")
    lines += ["", "Reply to a message's own triage notice with one of these at the top:", *(f"  {a}" for a in ANSWERS),
              "or use hub triage show ID | file ID REF | new ID | dismiss ID REASON."]
    return subject, "\n".join(lines)

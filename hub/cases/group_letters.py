"""`hub notify`: one letter to every open case of a group, when an agency stalls (a shutdown, a disaster).

The group is an agency's open cases, narrowed by a label and a status. A dry run counts them and fills the
letter in for the first; otherwise each case's letter is queued in a transaction of its own, as `hub letter
send` queues one (addressed by the case's channel, recorded on the case), with a `group-letter` event saying
which group it went to. The letters are spaced `[limits] group_letters_per_minute` apart, so that a group of
thousands neither trips the mail provider's sending limits (Exchange Online's is 30 messages a minute) nor
holds up the office's other letters, which go as soon as they are due.

A case where this letter is already waiting or sent is left alone, so a run cut short by a crash or a
Ctrl-C is finished by running the same command again. A case the letter cannot go to (no address, a
number that opted out of texts) is counted with its reason and the others go on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.casework import STATUSES, Actor, record
from hub.cases.letter_queue import address, queue_letter
from hub.cases.letter_send import letters_of
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.core.models import Case
from hub.letters.context import case_context
from hub.letters.templates import AGENCY_LETTERS, CASE_STATUS, Letter, Letters

ACTOR = Actor("cli", "cli")


@dataclass(frozen=True)
class Group:
    agency: str  # an agency key of agencies.toml
    label: str | None = None
    status: str | None = None

    def describe(self) -> str:
        narrowed = [f"label {self.label}"] * bool(self.label) + [f"status {self.status}"] * bool(self.status)
        return f"the open cases of {self.agency}" + (f" with {' and '.join(narrowed)}" if narrowed else "")


@dataclass(frozen=True)
class Preview:
    count: int
    ref: str | None  # the case the sample is filled in for
    recipient: str
    letter: Letter | None


@dataclass
class Outcome:
    queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> cases


def preview_group(hub: Hub, group: Group, name: str, text: str = "") -> Preview:
    """How many cases the group holds, and the letter filled in for the first of them."""
    letters = letters_of(hub)
    with hub.sessions() as session:
        ids = _checked_case_ids(session, hub, letters, group, name)
        if not ids:
            return Preview(0, None, "", None)
        case = session.get_one(Case, ids[0])
        addressed = address(session, hub.config, case, name, None, letters)
        words = {"text": text} if text else {}
        context = case_context(session, hub.config, case, hub.clock.now(), {"letter": name, **words})
        return Preview(len(ids), case.ref, addressed.recipient, letters.render(name, context, addressed.channel))


def notify_group(hub: Hub, group: Group, name: str, text: str = "") -> Outcome:
    """Queue the letter on every case of the group, spaced out; one case's problem never stops the others.
    `text` is the office's words the letter carries (its `{{ text }}`), the same for every case."""
    letters, now, outcome = letters_of(hub), hub.clock.now(), Outcome()
    with hub.sessions() as session:
        ids = _checked_case_ids(session, hub, letters, group, name)
    spacing = timedelta(minutes=1) / hub.config.limits.group_letters_per_minute
    for case_id in ids:
        try:
            with hub.sessions.begin() as session:
                case = session.get_one(Case, case_id)
                queue_letter(session, hub.config, hub.refs, letters, case, name, None, False, ACTOR, now,
                             text=text, not_before=now + spacing * outcome.queued)
                record(session, case, ACTOR, "group-letter", f"{name} to {group.describe()}", now)
        except UserError as refused:
            outcome.skipped[_reason(str(refused))] += 1
            continue
        outcome.queued += 1
    return outcome


def _checked_case_ids(session: Session, hub: Hub, letters: Letters, group: Group, name: str) -> list[int]:
    if hub.config.agency(group.agency) is None:
        known = ", ".join(agency.key for agency in hub.config.agencies)
        raise UserError(f"--agency {group.agency}: no such agency in agencies.toml (there are: {known})")
    if group.status is not None and group.status not in STATUSES[:-1]:
        raise UserError(f"--status {group.status}: expected one of {', '.join(STATUSES[:-1])}")
    if name in AGENCY_LETTERS:
        raise UserError(f"--letter {name} goes to the agency; hub notify writes to each case's constituent")
    if name == CASE_STATUS:
        raise UserError(f"--letter {name} is the answer to a constituent's STATUS; it is not sent by hand")
    if name not in letters.names("email") and name not in letters.names("sms"):
        raise UserError(f"--letter {name}: no such letter (hub letter list)")
    query = select(Case.id, Case.labels).where(Case.agency == group.agency, Case.status != "closed",
                                               Case.merged_into_id.is_(None)).order_by(Case.id)
    if group.status is not None:
        query = query.where(Case.status == group.status)
    # Labels are a JSON list, read alike on both databases here (as hub.cases.views does).
    return [case_id for case_id, labels in session.execute(query)
            if group.label is None or group.label in (labels or [])]


def _reason(refusal: str) -> str:
    """A refusal's reason without the case's reference and address: the same words for every case it hit."""
    if "is already" in refusal:
        return "this letter is already waiting or sent"
    if "opted out" in refusal:
        return "the constituent's number opted out of texts"
    if "no constituent address" in refusal:
        return "no address for the constituent"
    return refusal.split(": ", 1)[-1]

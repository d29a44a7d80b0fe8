"""What one due reminder does, decided from facts about its case: a pure function, no database.

Each reminder ends done (its letters queued), cancelled (the case moved on) or moved to a later time
(something else already did its job, or it is not a business day for an agency letter). Follow-on
reminders it sets are part of the plan; the next agency follow-up is not: it is set when this one
actually goes (hub.cases.reminders.agency_letter_sent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.cases import due_dates
from hub.cases.contacts import constituent_channel
from hub.core.config import Config
from hub.letters.context import spoken_date
from hub.letters.outbox import AUTO_GENERATED

CLOSING_LETTER_GRACE_DAYS = 1  # a case-closed letter the caseworker sent this close to the closing counts


@dataclass(frozen=True)
class Due:
    """A due reminder with the facts of its case (one row of the sweep's query)."""

    id: int
    kind: str
    case_id: int
    due_at: datetime
    note: str
    owner: str
    ref: str
    status: str
    assignee: str | None
    agency: str | None
    labels: list[str] | None
    subject: str
    closed_at: datetime | None
    contact_channel: str
    email: str | None
    phone: str | None


@dataclass
class AgencyHistory:
    """The case's inquiry and follow-ups (letter, recipient, state, when sent or queued), the agency's last answer."""

    letters: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    last_answer: datetime | None = None


@dataclass(frozen=True)
class BatchFacts:
    last_to_constituent: dict[int, datetime]   # case -> when anything was last queued for the constituent
    agency: dict[int, AgencyHistory]
    answered: set[int]                        # cases where a person has written or sent something
    closing_letters: dict[int, datetime]      # case -> the latest case-closed letter queued


@dataclass(frozen=True)
class QueuedLetter:
    name: str
    recipient: str
    channel: str = "email"
    automatic: str = AUTO_GENERATED
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    outcome: str                  # what the sweep's summary counts, e.g. "check-in"
    state: str                    # done | cancelled | pending (moved to due_at)
    why: str                      # kept on the reminder: what satisfied or cancelled it
    due_at: datetime | None = None
    letters: tuple[QueuedLetter, ...] = ()
    next: tuple[tuple[str, datetime, str], ...] = ()  # (kind, due, note) reminders to set
    event: str = ""               # the line in the case's history


def plan_reminder(reminder: Due, facts: BatchFacts, config: Config, sms_letters: frozenset[str],
                  now: datetime) -> Plan:
    rule = _RULES.get(reminder.kind)
    if rule is None:
        return Plan("cancelled", "cancelled", f"unknown kind of reminder {reminder.kind!r}")
    if reminder.status == "closed" and reminder.kind not in (due_dates.CLOSING, due_dates.SURVEY):
        return Plan("cancelled", "cancelled", "the case is closed")
    return rule(reminder, facts, config, sms_letters, now)


def _checkin(reminder: Due, facts: BatchFacts, config: Config, sms_letters: frozenset[str], now: datetime) -> Plan:
    days = config.schedule.checkin_days
    if not days:
        return Plan("cancelled", "cancelled", "check-ins are turned off ([schedule] checkin_days = 0)")
    last = facts.last_to_constituent.get(reminder.case_id)
    if last is not None and due_dates.checkin_due(last, config, reminder.case_id) > now:
        return Plan("check-in not needed", "pending", f"a letter went to the constituent on {last:%Y-%m-%d}",
                    due_at=due_dates.checkin_due(last, config, reminder.case_id))
    following = ((due_dates.CHECKIN, due_dates.checkin_due(now, config, reminder.case_id), ""),)
    contact = constituent_contact(reminder, "constituent-checkin", sms_letters)
    if contact is None:
        return Plan("check-in impossible", "done", "no address or number for the constituent", next=following,
                    event="check-in not sent: the case has no address or number for the constituent")
    channel, recipient = contact
    # No event of its own: the letter's row, and its message-sent event, are the case's record of it.
    return Plan("check-in", "done", f"constituent-checkin queued: nothing went to the constituent for {days} days",
                letters=(QueuedLetter("constituent-checkin", recipient, channel),), next=following)


def _agency_followup(reminder: Due, facts: BatchFacts, config: Config, sms_letters: frozenset[str],
                     now: datetime) -> Plan:
    history = facts.agency.get(reminder.case_id, AgencyHistory())
    if any(letter == "agency-followup" and state != "sent" for letter, _, state, _ in history.letters):
        return Plan("follow-up already waiting", "done", "an agency follow-up is already in the outbox")
    sent = [(letter, recipient, at) for letter, recipient, state, at in history.letters if state == "sent"]
    if not sent:
        return Plan("cancelled", "cancelled", "no inquiry went to the agency")
    rule = due_dates.standard(config.agency(reminder.agency), config)
    since = history.last_answer
    unanswered = sum(1 for letter, _, at in sent if letter == "agency-followup" and (since is None or at > since))
    inquiry_on = spoken_date(due_dates.local_day(sent[0][2], config))
    caseworker = reminder.assignee or config.office.intake_address
    agency = config.agency(reminder.agency)
    short = agency.short_name if agency else rule.name
    if unanswered >= rule.followup_limit:
        detail = (f"after {unanswered} follow-ups (inquiry sent {inquiry_on}): raised with the supervisor; the hub "
                  "sends no more follow-ups on its own")
        return Plan("escalated", "done", f"escalated after {unanswered} unanswered follow-ups",
                    letters=_notices(f"No answer from {short}", f"No answer {detail}.",
                                     (*config.supervisors, caseworker)),
                    event=f"No answer from {rule.name} {detail}")
    business = due_dates.next_business_start(now, config)
    if business > now:
        return Plan("follow-up moved", "pending", "waits for the next business day",
                    due_at=due_dates.spread(business, reminder.case_id))
    number = unanswered + 1
    recipient = sent[-1][1]
    unanswered_since = (f"since its last message on {spoken_date(due_dates.local_day(since, config))}" if since
                        else f"to the inquiry of {inquiry_on}")
    notices = _notices(f"Follow-up {number} sent to {short}", f"No answer {unanswered_since}.", (caseworker,))
    return Plan("agency follow-up", "done", f"agency-followup {number} queued",
                letters=(QueuedLetter("agency-followup", recipient, automatic=""), *notices),
                event=f"Follow-up {number} sent to {rule.name}: no answer {unanswered_since}")


def _caseworker_followup(reminder: Due, facts: BatchFacts, config: Config, sms_letters: frozenset[str],
                         now: datetime) -> Plan:
    recipient = reminder.owner or reminder.assignee or config.office.intake_address
    return Plan("caseworker reminder", "done", f"followup-reminder to {recipient}",
                letters=(QueuedLetter("followup-reminder", recipient, context={"text": reminder.note}),))


def _closing(reminder: Due, facts: BatchFacts, config: Config, sms_letters: frozenset[str], now: datetime) -> Plan:
    if reminder.status != "closed":
        return Plan("cancelled", "cancelled", "the case was reopened")
    survey = ((due_dates.SURVEY, due_dates.survey_due(now, config, reminder.case_id), ""),
              ) if config.schedule.survey_days else ()
    sent = facts.closing_letters.get(reminder.case_id)
    closed = reminder.closed_at or now
    if sent is not None and (closed - sent).days < CLOSING_LETTER_GRACE_DAYS:
        return Plan("closing letter sent already", "done", "the caseworker sent case-closed", next=survey)
    if not config.schedule.closing_letter:
        return Plan("cancelled", "cancelled", "closing letters are turned off ([schedule] closing_letter)",
                    next=survey)
    contact = constituent_contact(reminder, "case-closed", sms_letters)
    if contact is None:
        return Plan("closing letter impossible", "done", "no address or number for the constituent",
                    event="case-closed not sent: the case has no address or number for the constituent")
    channel, recipient = contact
    return Plan("closing letter", "done", "case-closed queued",
                letters=(QueuedLetter("case-closed", recipient, channel),), next=survey)


def _survey(reminder: Due, facts: BatchFacts, config: Config, sms_letters: frozenset[str], now: datetime) -> Plan:
    if reminder.status != "closed":
        return Plan("cancelled", "cancelled", "the case was reopened")
    contact = constituent_contact(reminder, "satisfaction-survey", sms_letters)
    if contact is None:
        return Plan("survey impossible", "done", "no address or number for the constituent")
    channel, recipient = contact
    return Plan("survey", "done", "satisfaction-survey queued",
                letters=(QueuedLetter("satisfaction-survey", recipient, channel),))


def _nudge(reminder: Due, facts: BatchFacts, config: Config, sms_letters: frozenset[str], now: datetime) -> Plan:
    hours = config.schedule.nudge_hours
    if not reminder.assignee:
        notice, event = "Nobody assigned", f"Nobody is assigned to this case {hours} business hours after it opened"
        people: tuple[str, ...] = (config.office.intake_address, *config.supervisors)
    elif "urgent" in (reminder.labels or []) and reminder.case_id not in facts.answered:
        notice = "Urgent case not answered"
        event = f"Urgent case not answered {hours} business hours after it opened"
        people = (config.office.intake_address, *config.supervisors, reminder.assignee)
    else:
        return Plan("nudge not needed", "done", "assigned" + (" and answered" if "urgent" in (reminder.labels or [])
                                                               else ""))
    return Plan("nudge", "done", event, letters=_notices(notice, f"{event}.", people), event=event)


def constituent_contact(reminder: Due, letter: str, sms_letters: frozenset[str]) -> tuple[str, str] | None:
    return constituent_channel(reminder.email, reminder.phone, reminder.contact_channel, letter in sms_letters)


def _notices(notice: str, text: str, people: tuple[str, ...]) -> tuple[QueuedLetter, ...]:
    """The caseworker notification to each of `people`, once each: `notice` for its subject, `text` its body."""
    return tuple(QueuedLetter("caseworker-notification", person, context={"notice": notice, "text": text})
                 for person in dict.fromkeys(people))


_RULES = {due_dates.CHECKIN: _checkin, due_dates.AGENCY_FOLLOWUP: _agency_followup,
          due_dates.CASEWORKER_FOLLOWUP: _caseworker_followup, due_dates.CLOSING: _closing, due_dates.SURVEY: _survey,
          due_dates.NUDGE: _nudge}

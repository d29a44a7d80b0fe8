"""What a caseworker does to a case, the same by mail command and on the command line.

Each action changes the case, records an event saying who did it, how (mail, cli, rule) and from which
message, and returns one line for the confirmation. Checks that can fail come first, so a refused
action changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import due_dates, reminders
from hub.cases.assignment import choose, chosen_detail
from hub.core.agency_directory import Agency
from hub.core.config import Config
from hub.core.config_values import Staff
from hub.core.district import district_change, zip_of
from hub.core.errors import UserError
from hub.core.models import Case, Event, Release, Reminder
from hub.core.refs import References
from hub.letters.compose import attachment_context
from hub.letters.context import spoken_date
from hub.letters.invitation import followup_event
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.release import valid_release

STATUSES = ("new", "open", "pending-agency", "pending-constituent", "closed")
CLOSE_REASONS = ("resolved", "referred", "withdrawn", "unresolved")
# e-sign: signed on the hub's page by the link of the privacy-release-request letter (hub.cases.release_signing)
RELEASE_METHODS = ("scan", "e-signature", "agency-form", "web form", "e-sign")


class CaseworkError(UserError):
    """An action that cannot be carried out as asked; nothing was changed."""


@dataclass(frozen=True)
class Actor:
    who: str                       # a staff address, or "cli" / "hub"
    via: str                       # mail | cli | rule
    message_row_id: int | None = None


def record(session: Session, case: Case, actor: Actor, kind: str, detail: str, now: datetime) -> None:
    session.add(Event(case_id=case.id, message_id=actor.message_row_id, kind=kind, detail=detail[:4000],
                      actor=actor.who, via=actor.via, at=now))
    case.updated_at = now


def assign(session: Session, case: Case, person: Staff, actor: Actor, now: datetime) -> str:
    if case.assignee == person.email:
        return f"already assigned to {person.name}"
    case.assignee = person.email
    _open(case)
    record(session, case, actor, "assigned", f"assigned to {person.name} <{person.email}>", now)
    return f"assigned to {person.name}"


def set_agency(session: Session, case: Case, agency: Agency, actor: Actor, now: datetime,
               config: Config | None = None) -> str:
    """Sets the agency; an unassigned case then goes to whoever carries that agency, when the rules say so."""
    if case.agency == agency.key:
        return f"agency already {agency.name}"
    case.agency = agency.key
    record(session, case, actor, "agency-set", f"agency {agency.key}", now)
    chosen = choose(session.connection(), config, now, agency.key) if config and not case.assignee else None
    if chosen:
        case.assignee = chosen[0].email
        record(session, case, Actor("hub", "rule", actor.message_row_id), "assigned", chosen_detail(chosen), now)
        return f"agency set to {agency.name}; assigned to {chosen[0].name} ({chosen[1]})"
    return f"agency set to {agency.name}"


def label(session: Session, case: Case, name: str, actor: Actor, now: datetime, reason: str = "") -> str:
    name = name.strip().lower()
    if name in (case.labels or []):
        return f"already labelled {name}"
    case.labels = [*(case.labels or []), name]
    record(session, case, actor, "labelled", f"{name}{': ' + reason if reason else ''}", now)
    return f"labelled {name}"


def unlabel(session: Session, case: Case, name: str, actor: Actor, now: datetime) -> str:
    name = name.strip().lower()
    if name not in (case.labels or []):
        return f"was not labelled {name}"
    case.labels = [label for label in case.labels if label != name]
    record(session, case, actor, "unlabelled", name, now)
    return f"label {name} removed"


def set_status(session: Session, case: Case, status: str, actor: Actor, now: datetime) -> str:
    if status not in STATUSES or status == "closed":
        raise CaseworkError(f"status {status!r}: expected one of {', '.join(s for s in STATUSES if s != 'closed')} "
                            "(#close closes)")
    if case.status == status:
        return f"status already {status}"
    if case.status == "closed":  # a status alone would leave the close reason and date on an open case
        raise CaseworkError(f"status {status}: the case is closed; reopen it first (#reopen)")
    previous, case.status = case.status, status
    record(session, case, actor, "status", f"{previous} -> {status}", now)
    return f"status {status}"


def close(session: Session, case: Case, reason: str, actor: Actor, now: datetime, config: Config | None = None) -> str:
    """Closes the case and cancels its pending reminders; with the office's `config`, the closing letter
    (and later the survey) is scheduled."""
    if reason not in CLOSE_REASONS:
        raise CaseworkError(f"close {reason!r}: expected one of {', '.join(CLOSE_REASONS)}")
    if case.status == "closed":
        return f"already closed ({case.close_reason})"
    case.status, case.close_reason, case.closed_at = "closed", reason, now
    for reminder in session.scalars(select(Reminder).where(Reminder.case_id == case.id, Reminder.state == "pending")):
        reminder.state, reminder.closed_at, reminder.closed_by = "cancelled", now, "case closed"
    record(session, case, actor, "closed", reason, now)
    if config is not None:
        session.flush()
        reminders.case_closed(session.connection(), config, case.id, now)
    return f"closed ({reason})"


def reopen(session: Session, case: Case, actor: Actor, now: datetime, config: Config | None = None) -> str:
    if case.status != "closed":
        return "not closed"
    case.status, case.close_reason, case.closed_at = "open", None, None
    record(session, case, actor, "reopened", "", now)
    if config is not None:
        session.flush()
        reminders.case_reopened(session.connection(), config, case.id, now)
    return "reopened"


def followup(session: Session, case: Case, day: date, note: str, actor: Actor, config: Config,
             refs: References, now: datetime) -> str:
    """A reminder to the caseworker at the start of the office's day on `day`, and now a mail to them
    with the date as a calendar event."""
    zone = ZoneInfo(config.office.timezone)
    if day <= now.astimezone(zone).date():
        raise CaseworkError(f"follow-up {day.isoformat()}: the date must be after today")
    owner = actor.who if config.staff_member(actor.who) else (case.assignee or config.office.intake_address)
    due = due_dates.caseworker_followup_due(day, config)
    reminder = Reminder(case_id=case.id, kind=due_dates.CASEWORKER_FOLLOWUP, due_at=due, state="pending",
                        note=note[:2000], owner=owner, created_at=now)
    session.add(reminder)
    session.flush()
    summary = f"Follow up {case.ref}" + (f": {note}" if note else "")
    event = followup_event(f"followup-{reminder.id}@{config.office.domain}", due, summary[:200],
                           f"{case.ref} {case.subject}\n{note}".strip(), now)
    enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter="followup-invitation", recipient=owner,
            refs=refs, domain=config.office.domain, now=now, automatic=AUTO_GENERATED,
            context={"notice": f"Follow-up on {spoken_date(day)}", "text": note,
                     "attachments": attachment_context(event)})
    record(session, case, actor, "followup-set", f"{day.isoformat()}{': ' + note if note else ''}", now)
    return f"follow-up on {spoken_date(day)}"


def note(session: Session, case: Case, text: str, actor: Actor, now: datetime) -> str:
    record(session, case, actor, "note", text or "(the message itself)", now)
    return "note kept on the case"


def set_address(session: Session, case: Case, address: str, actor: Actor, now: datetime,
                zip_codes: tuple[str, ...] = ()) -> str:
    """The constituent's postal address, as staff give it; the ZIP that ends it becomes their ZIP. A move out of
    the district `zip_codes` (or into it) is an event, and the confirmation says so."""
    zip_code = zip_of(address)
    if case.constituent is None:
        raise CaseworkError("the case has no constituent to give an address to")
    if not zip_code:
        raise CaseworkError(f"{address!r}: expected an address that ends with its ZIP "
                            "(214 Oak Street, Durham, NC 27701)")
    moved = district_change(case.constituent.zip_code, zip_code, zip_codes)
    case.constituent.postal_address, case.constituent.zip_code = address.strip(), zip_code
    record(session, case, actor, "address", f"postal address set, ZIP {zip_code}", now)
    if moved:
        record(session, case, actor, "district", moved, now)
    return f"address set (ZIP {zip_code})" + (f"; {moved[:1].lower()}{moved[1:]}" if moved else "")


def release_received(session: Session, case: Case, signed_on: date, actor: Actor, now: datetime,
                     method: str = "scan", attachment_id: int | None = None,
                     scope: tuple[str, ...] = (), today: date | None = None, message_id: int | None = None,
                     signed_by: str = "") -> str:
    """`today` is the office's date; without it, the UTC date (and a day's grace for the time zone). The evidence
    is an attachment (a signed scan) or a message (a web form's submission)."""
    if method not in RELEASE_METHODS:
        raise CaseworkError(f"release method {method!r}: expected one of {', '.join(RELEASE_METHODS)}")
    if signed_on > (today or now.date() + timedelta(days=1)):
        raise CaseworkError(f"release signed {signed_on.isoformat()}: that date is in the future")
    session.add(Release(case_id=case.id, received_on=today or now.date(), signed_on=signed_on, method=method,
                        scope=list(scope), attachment_id=attachment_id, message_id=message_id, recorded_by=actor.who,
                        via=actor.via, created_at=now))
    record(session, case, actor, "release-received",
           f"signed {signed_on.isoformat()}, {method}" + (f", attachment {attachment_id}" if attachment_id else "")
           + (f", message {message_id}" if message_id else "") + (f", signed by {signed_by}" if signed_by else ""), now)
    return f"privacy release on file (signed {spoken_date(signed_on)})"


def release_problem(session: Session, case: Case, agency: Agency | None, today: date) -> str:
    """Why an inquiry to the agency may not go yet, or ""."""
    if valid_release(session, case, agency, today) is not None:
        return ""
    any_release = session.scalar(select(Release.signed_on).where(Release.case_id == case.id)
                                 .order_by(Release.signed_on.desc()).limit(1))
    if any_release is None:
        return "no signed privacy release is on file"
    if agency is not None and agency.release_valid_days:
        return (f"the release on file was signed {any_release.isoformat()}; {agency.name} needs one signed within "
                f"{agency.release_valid_days} days")
    return "the release on file does not cover this agency"


def _open(case: Case) -> None:
    if case.status == "new":
        case.status = "open"

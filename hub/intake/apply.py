"""Effects -> rows: the message, its attachments, events, cases and outbox rows.

Runs inside the caller's transaction; nothing here commits, so a message's whole outcome is one
commit or nothing. Rows are written with statements built once and run on the session's connection:
intake is the hot path of a 100,000-message import, and the ORM's unit of work and per-statement
overhead cost several times what the database does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    Connection,
    Insert,
    Select,
    String,
    any_,
    bindparam,
    exists,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy import case as sql_case

from hub.cases.assignment import choose, chosen_detail
from hub.cases.numbering import NEXT_SEQUENCE, case_counter, next_reference
from hub.cases.reminders import ARCHIVED, agency_answered, case_opened, case_reopened, opening_reminders
from hub.cases.sms_optout import opt_in, opt_out, opted_out
from hub.cases.triage_queue import placed_meanwhile
from hub.core.config import Config
from hub.core.db import reserve_ids
from hub.core.db_pipeline import write_only
from hub.core.district import district_change
from hub.core.file_store import cut_raw, keep_cuts, keep_file
from hub.core.models import Attachment, Case, Event, Message, Outbox, Party, Release, Reminder
from hub.core.refs import References
from hub.intake.form_party import fill_in, form_constituent, record_release
from hub.intake.list_requests import answer
from hub.intake.message import InboundMessage
from hub.intake.route import (
    AgencyAnswered,
    AnswerStatus,
    Archived,
    CaseFacts,
    Decision,
    Effect,
    FollowChannel,
    FormDetails,
    FormRelease,
    ListRequest,
    MarkBounced,
    Notify,
    OpenCase,
    OptIn,
    OptOut,
    QueueLetter,
    Reopen,
    SetAgency,
    SetAgencyControl,
    StaffMail,
    StartReminders,
    TellIntake,
)
from hub.intake.staff import handle_staff_mail
from hub.intake.status_answer import answer_status
from hub.intake.triage_notice import tell_intake
from hub.letters.notice_digest import NOTICE, Caps, enqueue_capped
from hub.letters.outbox import AUTO_GENERATED, outbox_row, queue
from hub.letters.templates import Letters

_INSERT_MESSAGE = insert(Message).returning(Message.id)
# In a pipelined batch each message's row id is taken from the sequence beforehand, one statement for the batch
# (`reserve_ids`), so that the message's insert, whose id is all that was read, waits for nothing.
_INSERT_MESSAGE_WITH_ID = write_only(insert(Message).inline().values(id=bindparam("row_id")))
# Statements whose results are not read are `write_only`: sent without a wait in a pipelined batch
# (hub.core.db_pipeline).
_INSERT_ATTACHMENT = write_only(insert(Attachment).inline())
_REMINDER_COLUMNS = ("case_id", "kind", "due_at", "state", "note", "owner", "closed_by", "created_at")


@cache
def _insert_message_and_reminders(count: int, with_id: bool) -> Insert:
    """The message's insert carrying a new case's first `count` reminders (PostgreSQL: a data-modifying CTE, run
    to completion whether read or not): one round trip fewer for each new case.

    The rows come from a SELECT of parameters, not a multi-row VALUES: SQLAlchemy caches no compiled form of a
    multi-row VALUES, and compiled it again for every new case (a third of the hub's intake CPU then went to that)."""
    rows = [select(*[bindparam(f"reminder{n}_{column}", type_=Reminder.__table__.c[column].type)
                     for column in _REMINDER_COLUMNS]) for n in range(count)]
    return (_INSERT_MESSAGE_WITH_ID if with_id else _INSERT_MESSAGE).add_cte(
        insert(Reminder).from_select(_REMINDER_COLUMNS, rows[0] if count == 1 else union_all(*rows))
        .cte("first_reminders"))


def _reminder_parameters(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"reminder{n}_{column}": row[column] for n, row in enumerate(rows) for column in _REMINDER_COLUMNS}


_INSERT_EVENT = write_only(insert(Event).inline())
_INSERT_PARTY = insert(Party).returning(Party.id)
_INSERT_CASE = insert(Case).returning(Case.id)
# In a pipelined batch a new case's id is taken from the sequence beforehand (`CaseIds`), and its insert, whose
# id was all that was read, waits for nothing.
_INSERT_CASE_WITH_ID = write_only(insert(Case).inline().values(id=bindparam("case_id")))
# Case ids taken from the sequence at once: one round trip for this many new cases, and at most this many less
# one left unused when the batch ends (a sequence has gaps anyway: a rolled-back insert leaves one).
CASE_IDS_AT_ONCE = 16


class CaseIds:
    """Ids for the new cases of a pipelined batch (PostgreSQL), taken from the sequence `CASE_IDS_AT_ONCE` at a
    time, for `open_case`."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._ids: list[int] = []

    def take(self) -> int:
        if not self._ids:
            self._ids = reserve_ids(self._connection, "cases", CASE_IDS_AT_ONCE)[::-1]
        return self._ids.pop()


# Mail from whoever the case was waiting on wakes it: the status goes back to open.
_TOUCH_CASE = update(Case).where(Case.id == bindparam("case_id")).values(
    updated_at=bindparam("now"),
    status=sql_case((Case.status.in_(bindparam("wake", expanding=True)), "open"), else_=Case.status))
WAKES = {"agency": ["new", "pending-agency"], "constituent": ["pending-constituent"]}
# On PostgreSQL the touch rides on the message's events insert, a data-modifying CTE (run once, to completion,
# whether read or not): one round trip where there were two. It takes the wake list as an array, as
# executemany allows no expanding parameter; repeated for each event row, the touch changes nothing more.
_TOUCHED = update(Case).where(Case.id == bindparam("touch_id")).values(
    updated_at=bindparam("touch_at"),
    status=sql_case((Case.status == any_(bindparam("wake_array", type_=ARRAY(String))), "open"), else_=Case.status)
).cte("touched")
_INSERT_EVENT_TOUCHING = write_only(insert(Event).inline().add_cte(_TOUCHED))
_CONSTITUENT = (select(Party.id, Party.name).where(Party.role == "constituent", Party.email == bindparam("email"))
                .order_by(Party.id).limit(1))
_CONSTITUENT_BY_PHONE = (select(Party.id, Party.name, Party.email)
                         .where(Party.role == "constituent", Party.phone == bindparam("phone"))
                         .order_by(Party.id).limit(1))


def _find_or_make(key: Any) -> Select[Any]:
    """The sender's constituent party found by `key` (email or phone), or made when there is none, and the case
    counter's next number (hub.cases.numbering; None when the year has no counter yet), in one statement
    (PostgreSQL: data-modifying CTEs) where there were three round trips for each new case.
    Its row: id, name, email, whether the party was found, and the number."""
    found = (select(Party.id, Party.name, Party.email).where(Party.role == "constituent", key == bindparam("key"))
             .order_by(Party.id).limit(1).cte("found"))
    made = (insert(Party).from_select(
        ["role", "name", "email", "phone", "created_at"],
        select(literal("constituent", String), bindparam("new_name", type_=Party.name.type),
               bindparam("new_email", type_=Party.email.type), bindparam("new_phone", type_=Party.phone.type),
               bindparam("now", type_=Party.created_at.type)).where(~exists(select(found.c.id))))
        .returning(Party.id, Party.name, Party.email).cte("made"))
    parties = select(found.c.id, found.c.name, found.c.email, true().label("found")).union_all(
        select(made.c.id, made.c.name, made.c.email, ~true())).subquery("party")
    counted = NEXT_SEQUENCE.cte("counted")
    return select(parties, select(counted.c.value).scalar_subquery().label("sequence"))


_FIND_OR_MAKE = {"email": _find_or_make(Party.email), "sms": _find_or_make(Party.phone)}
_NAME_PARTY = write_only(update(Party).where(Party.id == bindparam("party_id")).values(name=bindparam("new_name")))
_SET_AGENCY = write_only(update(Case).where(Case.id == bindparam("case_id"), Case.agency.is_(None))
                         .values(agency=bindparam("agency")))
_RELEASE_ASKED = select(Outbox.id).where(Outbox.case_id == bindparam("case_id"),
                                         Outbox.letter == "privacy-release-request", Outbox.state == "sent").limit(1)
_RELEASE_ON_FILE = select(Release.id).where(Release.case_id == bindparam("case_id")).limit(1)
_ASSIGN = (update(Case).where(Case.id == bindparam("case_id"), Case.assignee.is_(None))
           .values(assignee=bindparam("assignee")))
_SET_STATUS = update(Case).where(Case.id == bindparam("case_id")).values(
    status=bindparam("status"), closed_at=bindparam("closed_at"), close_reason=bindparam("reason"))
# Only while it waits: of two caseworkers placing one message at once, the second is told (and rolled back).
_PLACE = update(Message).where(Message.id == bindparam("row_id"), Message.disposition == "triage").values(
    case_id=bindparam("case_id"), disposition="case", kind=bindparam("kind"), reason=bindparam("reason"))
_SET_CONTROL = (update(Case).where(Case.id == bindparam("case_id"), Case.agency_control.is_(None))
                .values(agency_control=bindparam("number")))


@dataclass(frozen=True)
class Applied:
    message_row_id: int
    case_ref: str | None
    opened: bool


def apply(connection: Connection, message: InboundMessage, decision: Decision, facts: CaseFacts | None,
          config: Config, refs: References, letters: Letters, now: datetime, row_id: int | None = None,
          case_ids: CaseIds | None = None, caps: Caps | None = None) -> Applied:
    """The decision's rows for a new message; `row_id`, when given, is the id its row takes (one of
    `reserve_ids`), else the database's next; a case it opens takes its id from `case_ids` when given; its
    caseworker notice is folded by what the batch knows (`caps`) when given."""
    return _apply(connection, message, decision, facts, config, refs, letters, now, reserved=row_id,
                  case_ids=case_ids, caps=caps)


def refile(connection: Connection, row_id: int, message: InboundMessage, decision: Decision,
           facts: CaseFacts | None, config: Config, refs: References, letters: Letters, now: datetime,
           reason: str, actor: str, via: str) -> Applied:
    """A message held in triage (row `row_id`), placed by a caseworker: its row moves to the decision's case
    with `reason`, and the decision's effects follow as if it had come in so."""
    return _apply(connection, message, decision, facts, config, refs, letters, now, (row_id, reason, actor, via))


def _apply(connection: Connection, message: InboundMessage, decision: Decision, facts: CaseFacts | None,
           config: Config, refs: References, letters: Letters, now: datetime,
           stored: tuple[int, str, str, str] | None = None, reserved: int | None = None,
           case_ids: CaseIds | None = None, caps: Caps | None = None) -> Applied:
    case = facts if decision.case_id is not None else None
    opened = any(isinstance(effect, OpenCase) for effect in decision.effects)
    events = []
    if opened:
        opening = next(effect for effect in decision.effects if isinstance(effect, OpenCase))
        case, opening_events = open_case(connection, message, config, refs, now, opening.urgent, opening.previous,
                                         case_ids.take() if case_ids is not None else None)
        events += opening_events
    # On PostgreSQL a new case's first reminders ride on its message's insert.
    early = opened and stored is None and connection.dialect.name == "postgresql" and \
        any(isinstance(effect, StartReminders) for effect in decision.effects)
    if stored is None:
        row_id = _store_message(connection, message, decision, case, now, reserved,
                                opening_reminders(config, case.case_id, now) if early and case else [])
        events.append(_event(case, row_id, "message-triaged" if decision.disposition == "triage" else
                             "message-received", f"{decision.kind} {message.channel} from {message.source}: "
                             f"{decision.reason}", message.sender, message.channel, now))
    else:
        row_id, reason, actor, via = stored
        assert case is not None
        if not connection.execute(_PLACE, {"row_id": row_id, "case_id": case.case_id, "kind": decision.kind,
                                           "reason": reason}).rowcount:
            raise placed_meanwhile(row_id)
        events.append(_event(case, row_id, "message-filed", f"{decision.kind} {message.channel} from triage: "
                             f"{decision.reason}", actor, via, now))
    for effect in decision.effects:
        if isinstance(effect, MarkBounced):
            events += _mark_bounced(connection, effect, case, row_id, now)
        elif isinstance(effect, OptOut | OptIn):
            events.append(_opt(connection, effect, case, message, row_id, now))
        elif isinstance(effect, TellIntake):
            tell_intake(connection, message, decision, row_id, config, refs, now)
        elif isinstance(effect, QueueLetter) and effect.to == "sender":
            queue(connection, outbox_row(
                connection, case_id=case.case_id if case else None, case_ref=case.ref if case else None,
                letter=effect.letter, recipient=message.sender, channel=message.channel, refs=refs,
                domain=config.office.domain, now=now, in_reply_to=message.message_id, automatic=effect.automatic))
        elif isinstance(effect, ListRequest):
            answer(connection, effect, message, config, refs, letters, now)
        elif isinstance(effect, AnswerStatus):
            events += answer_status(connection, effect, message, case, row_id, config, refs, now)
        elif isinstance(effect, StartReminders) and early:
            continue  # written with the message
        elif case is not None:
            if isinstance(effect, FormRelease) and events:  # its event follows the message's in the history
                connection.execute(_INSERT_EVENT, events)
                events = []
            effect_events, case = _case_effect(connection, effect, case, message, row_id, config, refs, letters, now,
                                               caps)
            events += effect_events
    # Asking where the case stands is no news on it: the case neither wakes nor moves up the lists.
    asked = any(isinstance(effect, AnswerStatus) for effect in decision.effects)
    touch = case is not None and not opened and not asked
    wake = WAKES.get(decision.kind, []) if decision.disposition == "case" else []
    if touch and events and connection.dialect.name == "postgresql":
        assert case is not None
        connection.execute(_INSERT_EVENT_TOUCHING, [dict(event, touch_id=case.case_id, touch_at=now, wake_array=wake)
                                                    for event in events])
        return Applied(row_id, case.ref, opened)
    if events:
        connection.execute(_INSERT_EVENT, events)
    if touch:
        assert case is not None
        connection.execute(_TOUCH_CASE, {"case_id": case.case_id, "now": now, "wake": wake})
    return Applied(row_id, case.ref if case else None, opened)


def _case_effect(connection: Connection, effect: Effect, case: CaseFacts, message: InboundMessage, row_id: int,
                 config: Config, refs: References, letters: Letters, now: datetime,
                 caps: Caps | None = None) -> tuple[list[dict[str, Any]], CaseFacts]:
    """Rows for one effect on the message's case; returns the events to record, and the case as it now is."""
    def queue_letter(letter: str, recipient: str, **options: Any) -> None:
        queue(connection, outbox_row(connection, case_id=case.case_id, case_ref=case.ref, letter=letter,
                                     recipient=recipient, refs=refs, domain=config.office.domain, now=now, **options))

    if isinstance(effect, QueueLetter):
        channel, recipient = case.contact() if effect.to == "constituent" else ("email", effect.to)
        if recipient:
            queue_letter(effect.letter, recipient, channel=channel, in_reply_to=message.message_id,
                  automatic=effect.automatic)
    elif isinstance(effect, Notify):
        text = effect.text
        if message.attachments and _may_be_release(connection, case, message):
            text += (("\n" if text else "") + "The attachment may be the signed privacy release: reply "
                     "#release received YYYY-MM-DD (the day it was signed) to record it.")
        enqueue_capped(connection, config, refs, now, letter=NOTICE, about=message.sender, case_id=case.case_id,
                       case_ref=case.ref, recipient=effect.to or case.assignee or config.office.intake_address,
                       automatic=AUTO_GENERATED, caps=caps, context={"message_row_id": row_id,
                                                                     "notice": effect.notice, "text": text})
    elif isinstance(effect, StaffMail):
        handle_staff_mail(connection, message, case, row_id, config, refs, letters, now)
    elif isinstance(effect, SetAgency):
        connection.execute(_SET_AGENCY, {"case_id": case.case_id, "agency": effect.key})
        events = [_event(case, row_id, "agency-set", f"agency {effect.key} (from {message.sender_domain})",
                         message.sender, message.channel, now)]
        chosen = choose(connection, config, now, effect.key) if not case.assignee and config.assignment.rules else None
        if chosen:
            connection.execute(_ASSIGN, {"case_id": case.case_id, "assignee": chosen[0].email})
            events.append(_event(case, row_id, "assigned", chosen_detail(chosen), "hub", "rule", now))
            case = replace(case, assignee=chosen[0].email)
        return events, replace(case, agency=effect.key)
    elif isinstance(effect, StartReminders):
        case_opened(connection, config, case.case_id, now)
    elif isinstance(effect, AgencyAnswered):
        agency_answered(connection, config, case.case_id, case.agency, row_id, now)
    elif isinstance(effect, Reopen):
        connection.execute(_SET_STATUS, {"case_id": case.case_id, "status": "open", "closed_at": None, "reason": None})
        case_reopened(connection, config, case.case_id, now)
        return [_event(case, row_id, "reopened", "the constituent wrote after the closing", message.sender,
                       message.channel, now)], replace(case, status="open", closed_at=None)
    elif isinstance(effect, Archived):
        closed = effect.status == "closed"
        connection.execute(_SET_STATUS, {"case_id": case.case_id, "status": effect.status,
                                      "closed_at": now if closed else None, "reason": "archived" if closed else None})
        return [_event(case, row_id, ARCHIVED, f"imported from an archive: {effect.status}", "hub", "rule", now)], case
    elif isinstance(effect, SetAgencyControl):
        connection.execute(_SET_CONTROL, {"case_id": case.case_id, "number": effect.number})
        return [_event(case, row_id, "agency-control-number", f"the agency's number is {effect.number}",
                       message.sender, message.channel, now)], case
    elif isinstance(effect, FormDetails) and message.form is not None:
        changed = fill_in(connection, case.constituent_id, message.form)
        moved = district_change(case.constituent_zip, message.form.zip_code, config.office.zip_codes) \
            if "ZIP" in changed else ""
        events = [_form_details(case, row_id, message, changed, now)] if changed else []
        events += [_event(case, row_id, "district", moved, "hub", "rule", now)] if moved else []
        return events, replace(case, constituent_zip=message.form.zip_code or case.constituent_zip)
    elif isinstance(effect, FollowChannel):
        if effect.channel == "sms" and opted_out(connection, message.sender) is not None:
            return [], case
        connection.execute(update(Case).where(Case.id == case.case_id).values(contact_channel=effect.channel))
        return [_event(case, row_id, "channel", f"the constituent wrote by {effect.channel}: letters to them go by "
                       f"{effect.channel}", message.sender, message.channel, now)], \
            replace(case, contact_channel=effect.channel)
    elif isinstance(effect, FormRelease):
        record_release(connection, case.case_id, message, row_id, effect.signature, config, now)
    return [], case


def _form_details(case: CaseFacts, row_id: int | None, message: InboundMessage, changed: list[str],
                  now: datetime) -> dict[str, Any]:
    form = message.form.form_name if message.form else ""
    return _event(case, row_id, "constituent-updated", f"from web form {form}: {', '.join(changed)}", "hub", "rule",
                  now)


def _opt(connection: Connection, effect: OptOut | OptIn, case: CaseFacts | None, message: InboundMessage,
         row_id: int, now: datetime) -> dict[str, Any]:
    said = message.text.strip().upper()
    if isinstance(effect, OptOut):
        moved, cancelled = opt_out(connection, message.sender, "keyword", f"texted {said}", now)
        detail = (f"the number texted {said}: no more texts to it; {moved} waiting text(s) moved to email, "
                  f"{cancelled} cancelled")
        return _event(case, row_id, "sms-opted-out", detail, message.sender, "sms", now)
    was_out = opt_in(connection, message.sender, case.case_id if case else None)
    detail = f"the number texted {said}: texts allowed again" + ("" if was_out else " (it had not opted out)")
    return _event(case, row_id, "sms-opted-in", detail, message.sender, "sms", now)


RELEASE_TYPES = ("application/pdf", "image/")


def _may_be_release(connection: Connection, case: CaseFacts, message: InboundMessage) -> bool:
    """A PDF or an image from the constituent (or someone on the case) after the release request went out, with
    none on file yet."""
    if not case.may_write(message.sender) or message.channel != "email":
        return False
    if not any(a.content_type.lower().startswith(RELEASE_TYPES) for a in message.attachments):
        return False
    asked = connection.execute(_RELEASE_ASKED, {"case_id": case.case_id}).first()
    return asked is not None and connection.execute(_RELEASE_ON_FILE, {"case_id": case.case_id}).first() is None


def open_case(connection: Connection, message: InboundMessage, config: Config, refs: References,
              now: datetime, urgent: str = "", previous: str = "",
              case_id: int | None = None) -> tuple[CaseFacts, list[dict[str, Any]]]:
    """A new case for the sender, on the constituent party with that address (made when missing),
    assigned by the office's rules; returns it with its events (written with the message's own). `case_id`,
    when given, is the id the case takes (of `CaseIds`), else the database's next."""
    by_text = message.channel == "sms"
    contact_channel, changed = message.channel, list[str]()
    year = now.astimezone(ZoneInfo(config.office.timezone)).year % 100
    taken = None
    if message.form is not None:
        constituent_id, email, phone, changed = form_constituent(connection, message.form, now)
        contact_channel = "email" if email else "sms"
    elif connection.dialect.name == "postgresql":
        phone = message.sender if by_text else None
        party = connection.execute(_FIND_OR_MAKE["sms" if by_text else "email"], dict(
            key=message.sender, new_name=message.sender_name, new_email=None if by_text else message.sender,
            new_phone=phone, now=now, counter=case_counter(year))).one()
        constituent_id, email, taken = party.id, party.email if by_text else message.sender, party.sequence
        if party.found and not party.name and message.sender_name:
            connection.execute(_NAME_PARTY, {"party_id": party.id, "new_name": message.sender_name})
    else:
        found = (connection.execute(_CONSTITUENT_BY_PHONE, {"phone": message.sender}).first() if by_text else
                 connection.execute(_CONSTITUENT, {"email": message.sender}).first())
        email = (found.email if found else None) if by_text else message.sender
        phone = message.sender if by_text else None
        if found is None:
            constituent_id = connection.execute(_INSERT_PARTY, dict(
                role="constituent", name=message.sender_name, email=email, phone=phone, created_at=now)).scalar_one()
        else:
            constituent_id = found.id
            if not found.name and message.sender_name:
                connection.execute(_NAME_PARTY, {"party_id": found.id, "new_name": message.sender_name})
    reference = next_reference(connection, refs, year, taken)
    chosen = choose(connection, config, now, None) if config.assignment.rules else None
    row = dict(ref=reference, status="new", labels=["urgent"] if urgent else [], subject=_case_subject(message),
               constituent_id=constituent_id, assignee=chosen[0].email if chosen else None, opened_at=now,
               updated_at=now, contact_channel=contact_channel)
    if case_id is None:
        case_id = connection.execute(_INSERT_CASE, row).scalar_one()
    else:
        connection.execute(_INSERT_CASE_WITH_ID, dict(row, case_id=case_id))
    case = CaseFacts(case_id, reference, email, None, constituent_id, chosen[0].email if chosen else None,
                     constituent_phone=phone, contact_channel=contact_channel)
    opened_from = f"web form {message.form.form_name}" if message.form else message.channel
    opened = f"opened from {opened_from}" + (f"; the constituent wrote again after {previous} closed"
                                             if previous else "")
    events = [_event(case, None, "case-opened", opened, message.sender, message.channel, now)]
    if changed:
        events.append(_form_details(case, None, message, changed, now))
    if urgent:
        events.append(_event(case, None, "labelled", f"urgent: {urgent}", "hub", "rule", now))
    if chosen:
        events.append(_event(case, None, "assigned", chosen_detail(chosen), "hub", "rule", now))
    return case, events


def _case_subject(message: InboundMessage) -> str:
    """The subject of a mail; a text has none, so its opening words (what a caseworker's list shows)."""
    if message.channel != "sms":
        return message.subject[:1000]
    words = " ".join(message.new_text.split())
    if len(words) <= 60:
        return f"Text: {words}" if words else "Text message"
    return f"Text: {words[:60].rsplit(' ', 1)[0]}..."


def _event(case: CaseFacts | None, message_row_id: int | None, kind: str, detail: str, actor: str, via: str,
           now: datetime) -> dict[str, Any]:
    return dict(case_id=case.case_id if case else None, message_id=message_row_id, kind=kind, detail=detail,
                actor=actor, via=via, at=now)


def _store_message(connection: Connection, message: InboundMessage, decision: Decision, case: CaseFacts | None,
                   now: datetime, reserved: int | None, reminders: list[dict[str, Any]]) -> int:
    sent_at = message.date if message.date and message.date <= now + timedelta(days=1) else now
    files = [hashlib.sha256(a.data).hexdigest() if a.data is not None else None for a in message.attachments]
    kept = cut_raw(message.raw, {sha256: a.data for sha256, a in zip(files, message.attachments, strict=True)
                                 if sha256 is not None and a.data is not None})
    if reminders:
        statement = _insert_message_and_reminders(len(reminders), reserved is not None)
    else:
        statement = _INSERT_MESSAGE if reserved is None else _INSERT_MESSAGE_WITH_ID
    row = dict(
        case_id=case.case_id if case and decision.disposition == "case" else None,
        direction="in", channel=message.channel, kind=decision.kind, disposition=decision.disposition,
        reason=decision.reason, triage_case_id=decision.triage_case_id, dedupe_key=message.dedupe_key,
        message_id=message.message_id, in_reply_to=" ".join(message.in_reply_to) or None,
        references=" ".join(message.references) or None, source=message.source[:200],
        sender=message.sender, sender_name=message.sender_name[:200], recipients=list(message.recipients),
        subject=message.subject, body=message.new_text, full_text=message.text, **kept.columns(),
        at=sent_at, received_at=now, **_reminder_parameters(reminders),
    )
    if reserved is None:
        row_id: int = connection.execute(statement, row).scalar_one()
    else:
        connection.execute(statement, dict(row, row_id=reserved))
        row_id = reserved
    # The files after the message: a duplicate's insert fails (hub.intake.pipeline) before they are sent.
    for sha256, attachment in zip(files, message.attachments, strict=True):
        if sha256 is not None and attachment.data is not None:
            keep_file(connection, attachment.data, sha256)
    if message.attachments:
        connection.execute(_INSERT_ATTACHMENT, [dict(
            message_id=row_id, filename=a.filename, content_type=a.content_type, size=a.size, oversized=a.oversized,
            inline=a.inline, sha256=sha256) for a, sha256 in zip(message.attachments, files, strict=True)])
    keep_cuts(connection, row_id, kept)
    return row_id


def _mark_bounced(connection: Connection, effect: MarkBounced, case: CaseFacts | None, row_id: int,
                  now: datetime) -> list[dict[str, Any]]:
    # Addresses read from a free-text bounce can be wrong; when the bounce is about a known case, only
    # that case's own party can be marked.
    events = []
    for address in effect.addresses:
        query = select(Party.id).where(Party.email == address)
        if case is not None:
            query = query.where(Party.id == case.constituent_id)
        party_ids = list(connection.execute(query).scalars())
        if party_ids:
            connection.execute(update(Party).where(Party.id.in_(party_ids))
                               .values(bounced_at=now, bounce_reason=effect.reason[:500]))
            events.append(_event(case, row_id, "address-bounced",
                                 f"delivery to a party address failed: {effect.reason}", "hub", "rule", now))
    return events

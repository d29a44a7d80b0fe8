"""The variables a letter is filled in with, read from a case in the database.

The shape is the contract in hub.letters.templates (CONTEXT_KEYS): plain strings, numbers and booleans in a
few named groups, so that office-edited templates see nothing they could misuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, ScalarSelect, bindparam, exists, func, literal_column, select
from sqlalchemy.orm import Session, aliased

from hub.core.agency_directory import Agency
from hub.core.calendar import add_days
from hub.core.config import Config
from hub.core.config_values import Staff
from hub.core.models import Case, Message, Outbox, Release
from hub.letters.enclosures import file_fields, message_files, read_message_files
from hub.letters.notice_thread import FIRST
from hub.letters.release import evidence, valid_release

TEAM_NAME = "Casework Team"
SIGN_LINK = "sign_link"  # the key of the extra context that carries the link to sign the release
NO_RELEASE: dict[str, Any] = {"on_file": False, "signed_on": "", "attached": False}
NO_AGENCY: dict[str, Any] = {"key": "", "name": "", "liaison": "", "response_days": 0, "business_days": False}


SPANISH_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
                  "noviembre", "diciembre")
LANGUAGES = ("en", "es")


def _sent_to_agency(letter: str, what: Any, case_id: ColumnElement[Any]) -> ScalarSelect[Any]:
    # The case's table, when `case_id` is its column, is the enclosing query's however deep this is nested.
    return select(what).where(Outbox.case_id == case_id, Outbox.letter == letter, Outbox.state == "sent") \
        .correlate_except(Outbox).scalar_subquery()


def _case_facts(case_id: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """What a letter reads of the case `case_id` beyond its own row: the inquiry and its follow-ups, whether the
    agency wrote after the inquiry (nothing is then due from it), the constituent's first message (the case's
    summary), and whether a release is on file (hub.letters.release picks which)."""
    inquiry_sent = _sent_to_agency("agency-inquiry", func.min(Outbox.sent_at), case_id)
    return [inquiry_sent.label("inquiry_sent"),
            _sent_to_agency("agency-followup", func.count(), case_id).label("followups"),
            exists().where(Message.case_id == case_id, Message.direction == "in", Message.kind == "agency",
                           Message.received_at >= inquiry_sent).label("answered"),
            select(Message.body).where(Message.case_id == case_id, Message.direction == "in",
                                       Message.kind == "constituent")
            .order_by(Message.at, Message.id).limit(1).scalar_subquery().label("summary"),
            exists().where(Release.case_id == case_id).label("releases")]


# The message the letter is about (a notice's), beside the case's facts: its row, or NULLs without one. A letter
# needs a message's fields, never its raw bytes, which can be 50 MB: the few columns it shows are read, not the
# ORM's row (which would load its attachments too).
_SHOWN = aliased(Message, name="shown")
_SHOWN_COLUMNS = (_SHOWN.id, _SHOWN.sender, _SHOWN.sender_name, _SHOWN.kind, _SHOWN.channel, _SHOWN.subject,
                  _SHOWN.body, _SHOWN.at)
_ONE_ROW = select(literal_column("1").label("one")).subquery("one_row")  # what the message's row is joined to
# One letter's case facts and message in one round trip, built once.
_CASE_FACTS = (select(*_case_facts(bindparam("case_id")), *_SHOWN_COLUMNS)
               .select_from(_ONE_ROW).outerjoin(_SHOWN, _SHOWN.id == bindparam("row_id")))
# Several letters' (hub.delivery's batches): each case's facts once, and each message once.
_FACTS_OF_CASES = (select(Case.id, *_case_facts(Case.__table__.c.id))
                   .where(Case.id.in_(bindparam("case_ids", expanding=True))))
_SHOWN_MESSAGES = select(*_SHOWN_COLUMNS).where(_SHOWN.id.in_(bindparam("row_ids", expanding=True)))


@dataclass(frozen=True)
class CaseFacts:
    """What `case_context` reads of the database beyond the case's own row: the case's facts (the columns of
    `_case_facts`) and the message the letter is about (`_SHOWN_COLUMNS`; None without one)."""

    case: Row[*tuple[Any, ...]]
    message: Row[*tuple[Any, ...]] | None


def shown_message_id(extra: dict[str, Any]) -> int | None:
    """The message a letter is about, as its outbox row's context names it."""
    row_id = extra.get("message_row_id")
    return int(row_id) if row_id else None


def facts_of_letters(session: Session, config: Config,
                     letters: Iterable[tuple[int, int | None]]) -> dict[tuple[int, int | None], CaseFacts]:
    """The facts of several letters at once, by (case id, `shown_message_id`): a round trip for their cases and
    one for their messages, whose files are read (`read_message_files`) for their notices too."""
    wanted = set(letters)
    connection = session.connection()  # Core statements: the ORM's execution path cost as much as their reads
    cases = {row.id: row for row in connection.execute(_FACTS_OF_CASES,
                                                       {"case_ids": sorted({c for c, _ in wanted})})}
    message_ids = sorted({m for _, m in wanted if m is not None})
    messages = {row.id: row for row in connection.execute(_SHOWN_MESSAGES, {"row_ids": message_ids})} \
        if message_ids else {}
    read_message_files(session, list(messages), config.letters.notice_attachment_bytes)
    return {(case_id, message_id): CaseFacts(cases[case_id], messages.get(message_id) if message_id else None)
            for case_id, message_id in wanted}


def spoken_date(day: date) -> str:
    """`November 23, 2026`, as letters write dates."""
    return f"{day:%B} {day.day}, {day.year}"


def spoken_day(day: date, language: str = "en") -> str:
    """`November 23`, `23 de noviembre`: a day within the next or the last few months, as a text writes it."""
    if language == "es":
        return f"{day.day} de {SPANISH_MONTHS[day.month - 1]}"
    return f"{day:%B} {day.day}"


def case_context(session: Session, config: Config, case: Case, now: datetime,
                 extra: dict[str, Any] | None = None, known: CaseFacts | None = None) -> dict[str, Any]:
    """Everything a letter about `case` may use; `extra` is the outbox row's context (notice, text, message),
    `known` its facts when they were read already (`facts_of_letters`)."""
    extra = extra or {}
    zone = ZoneInfo(config.office.timezone)
    person = case.constituent
    agency = config.agency(case.agency)
    staff = config.staff_member(case.assignee)
    if known is None:
        row = session.execute(_CASE_FACTS, {"case_id": case.id, "row_id": shown_message_id(extra)}).one()
        known = CaseFacts(row, row if row.id is not None else None)
    facts = known.case
    followups = facts.followups or 0
    sent_on = facts.inquiry_sent.astimezone(zone).date() if facts.inquiry_sent else None
    # The answer is due from the inquiry; the inquiry letter itself counts from the day it goes out.
    expected_from = sent_on or (now.astimezone(zone).date() if extra.get("letter") == "agency-inquiry" else None)
    summary = facts.summary
    today = now.astimezone(zone).date()
    name = person.name if person else ""
    return {
        "office": office_fields(config),
        "case": {
            "ref": case.ref, "subject": case.subject, "status": case.status,
            "opened_on": spoken_date(case.opened_at.astimezone(zone).date()),
            "agency_control": case.agency_control or "", "summary": summary if summary is not None else "",
            "identifiers": [],
        },
        "constituent": {"name": name, "first_name": name.split()[0] if name.split() else "",
                        "email": (person.email if person else None) or "",
                        "phone": (person.phone if person else None) or "",
                        "address": (person.postal_address if person else None) or "",
                        "zip": (person.zip_code if person else None) or ""},
        "recipient": recipient_fields(extra.get("recipient"), name),
        "caseworker": staff_fields(staff) if staff else team_fields(config),
        "agency": {"key": agency.key, "name": agency.name, "liaison": agency.liaison,
                   "response_days": agency.response_days, "business_days": agency.business_days}
        if agency else NO_AGENCY,
        "release": release_fields(session, case, agency, today) if facts.releases else NO_RELEASE,
        "inquiry": {
            "sent_on": spoken_date(sent_on) if sent_on else "",
            "response_due": spoken_date(add_days(expected_from, agency.response_days, agency.business_days))
            if agency and expected_from and not facts.answered else "",
            "followup_number": followups + 1 if extra.get("letter") == "agency-followup" else followups,
        },
        "message": message_fields(session, known.message, zone, config) if known.message is not None
        else message_fields_blank(),
        "links": links(config, extra.get(SIGN_LINK)),
        "notice": str(extra.get("notice", "")),
        "text": str(extra.get("text", "")),
        "first_notice": bool(extra.get(FIRST)),
        "today": spoken_date(today),
        **status_fields(extra),
    }


def status_fields(extra: dict[str, Any]) -> dict[str, Any]:
    """The answer to a STATUS request (hub.cases.case_status, in the outbox row's context): its cases, and the
    language of the letter ("en" for every other letter)."""
    language = str(extra.get("language", "en"))
    return {"status": list(extra.get("status", [])), "language": language if language in LANGUAGES else "en"}


def recipient_fields(person: Any, constituent_name: str) -> dict[str, str]:
    """Whom a letter greets: the person on the case it goes to (`{"name", "role"}` in the outbox row's
    context), else the constituent."""
    name, role = (str(person["name"]), str(person["role"])) if isinstance(person, dict) else (
        constituent_name, "constituent")
    return {"name": name, "first_name": name.split()[0] if name.split() else "", "role": role}


def office_context(config: Config, now: datetime, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The context of a letter that concerns no case (the answer to HELP from an unknown number): the
    office's fields filled in, every case field blank."""
    extra = extra or {}
    zone = ZoneInfo(config.office.timezone)
    return {
        "office": office_fields(config),
        "case": {"ref": "", "subject": "", "status": "", "opened_on": "", "agency_control": "", "summary": "",
                 "identifiers": []},
        "constituent": {"name": "", "first_name": "", "email": "", "phone": "", "address": "", "zip": ""},
        "recipient": recipient_fields(None, ""),
        "caseworker": team_fields(config),
        "agency": NO_AGENCY,
        "release": NO_RELEASE,
        "inquiry": {"sent_on": "", "response_due": "", "followup_number": 0},
        "message": message_fields_blank(),
        "links": links(config),
        "notice": str(extra.get("notice", "")),
        "text": str(extra.get("text", "")),
        "first_notice": bool(extra.get(FIRST)),
        "today": spoken_date(now.astimezone(zone).date()),
        **status_fields(extra),
    }


def release_fields(session: Session, case: Case, agency: Agency | None, today: date) -> dict[str, Any]:
    """The privacy release the agency letters rest on: on file or not, the day it was signed, and whether
    its file goes along (hub.letters.release; delivery encloses the same file)."""
    release = valid_release(session, case, agency, today)
    if release is None:
        return NO_RELEASE
    return {"on_file": True, "signed_on": spoken_date(release.signed_on),
            "attached": evidence(session, release) is not None}


def staff_fields(person: Staff) -> dict[str, str]:
    """The caseworker group of one staff member: the case's assignee, or whom a staff letter is for."""
    return {"name": person.name, "first_name": person.first_name, "title": person.title, "email": person.email}


def team_fields(config: Config) -> dict[str, str]:
    """The caseworker group of a case nobody is assigned to: the team, reached at the intake address."""
    return {"name": TEAM_NAME, "first_name": "", "title": "", "email": config.office.intake_address}


def links(config: Config, sign_link: Any = None) -> dict[str, Any]:
    """`sign_link`: `{"url", "until"}` of the link to sign the release (hub.letters.release_link), when the
    letter carries one."""
    sign = sign_link if isinstance(sign_link, dict) else {}
    return {"privacy_release_url": config.letters.privacy_release_url,
            "privacy_release_attached": bool(config.letters.privacy_release_form),
            "survey_url": config.letters.survey_url,
            "release_sign_url": str(sign.get("url", "")), "release_sign_until": str(sign.get("until", ""))}


def office_fields(config: Config) -> dict[str, str]:
    office = config.office
    return {"name": office.name, "member": office.member, "district": office.district, "address": office.address,
            "phone": office.phone, "hours": office.hours, "website": office.website}


def message_fields(session: Session, message: Row[Any], zone: ZoneInfo, config: Config) -> dict[str, Any]:
    """The message group of the message a letter is about (its columns as `_SHOWN_COLUMNS` reads them)."""
    local = message.at.astimezone(zone)
    files = [file_fields(file) for file in message_files(session, message.id, config.letters.notice_attachment_bytes)]
    return {"sender": message.sender, "sender_name": message.sender_name, "kind": message.kind,
            "channel": message.channel, "subject": message.subject, "body": message.body,
            "at": f"{spoken_date(local.date())} {local:%H:%M}", "files": files}


def message_fields_blank() -> dict[str, Any]:
    return {**dict.fromkeys(("sender", "sender_name", "kind", "channel", "subject", "body", "at"), ""), "files": []}

"""A case in the database fills in exactly the variables the letters are written against."""

from __future__ import annotations

from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.calendar import add_days
from hub.core.models import Attachment, Case, Message, Outbox, Release
from hub.letters.context import case_context
from hub.letters.notice_thread import FIRST
from hub.letters.templates import CONTEXT_KEYS
from tests.helpers import START, email, feed

pytestmark = pytest.mark.integration


def shape(context: dict[str, object]) -> dict[str, tuple[str, ...] | None]:
    return {group: tuple(sorted(value)) if isinstance(value, dict) else None for group, value in context.items()}


def test_a_case_fills_in_the_letter_contract(hub: Hub) -> None:
    feed(hub, email(sender="Pat Example <pat@example.com>", subject="Pension", body="My pension stopped."))
    with hub.sessions() as session:
        case = session.scalars(select(Case)).one()
        case.agency = "ssa"
        context = case_context(session, hub.config, case, hub.clock.now())
        assert shape(context) == {group: tuple(sorted(fields)) if fields else None
                                  for group, fields in CONTEXT_KEYS.items()}
        assert context["constituent"] == {"name": "Pat Example", "first_name": "Pat", "email": "pat@example.com",
                                          "phone": "", "address": "", "zip": ""}
        assert context["case"]["summary"] == "My pension stopped."  # type: ignore[index]
        assert context["agency"]["name"] == "Social Security Administration"  # type: ignore[index]
        assert context["caseworker"]["name"] == "Casework Team", "unassigned: the office's team signs"  # type: ignore[index]
        assert context["inquiry"]["response_due"] == "", "no inquiry went out, so nothing is due"  # type: ignore[index]
        inquiry = case_context(session, hub.config, case, hub.clock.now(), {"letter": "agency-inquiry"})
        assert inquiry["inquiry"]["response_due"] == "December 13, 2026"  # type: ignore[index]
        session.rollback()


def with_file(raw: bytes, data: bytes, filename: str) -> bytes:
    message = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
    message.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return message.as_bytes()


def sent(case: Case, letter: str, at: Any) -> Outbox:
    return Outbox(case_id=case.id, letter=letter, recipient="liaison@ssa.example.gov", message_id=f"<{letter}@hub>",
                  state="sent", not_before=at, created_at=at, sent_at=at)


def test_a_notice_on_a_case_with_an_inquiry_a_follow_up_and_a_release_fills_in_every_group(hub: Hub) -> None:
    feed(hub, with_file(email(sender="Pat Example <pat@example.com>", subject="Pension", body="My pension stopped."),
                        b"%PDF-1.4 " + b"x" * 2039, "award-letter.pdf"))
    config, zone = hub.config, ZoneInfo(hub.config.office.timezone)
    inquiry_at, now = START + timedelta(days=1), START + timedelta(days=10)
    with hub.sessions() as session:
        case = session.scalars(select(Case)).one()
        case.agency = "ssa"
        message = session.scalars(select(Message)).one()
        attachment = session.scalars(select(Attachment)).one()
        session.add_all([sent(case, "agency-inquiry", inquiry_at),
                         sent(case, "agency-followup", START + timedelta(days=8)),
                         Release(case_id=case.id, received_on=date(2026, 11, 23), signed_on=date(2026, 11, 20),
                                 scope=[], attachment_id=attachment.id, created_at=START)])
        session.flush()
        agency = config.agency("ssa")
        assert agency is not None and case.assignee is None
        at = message.at.astimezone(zone)
        due = add_days(date(2026, 11, 24), agency.response_days, agency.business_days)
        expected: dict[str, Any] = {
            "office": {"name": config.office.name, "member": config.office.member, "district": config.office.district,
                       "address": config.office.address, "phone": config.office.phone, "hours": config.office.hours,
                       "website": config.office.website},
            "case": {"ref": case.ref, "subject": "Pension", "status": case.status, "opened_on": "November 23, 2026",
                     "agency_control": "", "summary": message.body, "identifiers": []},
            "constituent": {"name": "Pat Example", "first_name": "Pat", "email": "pat@example.com", "phone": "",
                            "address": "", "zip": ""},
            "recipient": {"name": "Pat Example", "first_name": "Pat", "role": "constituent"},
            "caseworker": {"name": "Casework Team", "first_name": "", "title": "",
                           "email": config.office.intake_address},
            "agency": {"key": "ssa", "name": agency.name, "liaison": agency.liaison,
                       "response_days": agency.response_days, "business_days": agency.business_days},
            "release": {"on_file": True, "signed_on": "November 20, 2026", "attached": True},
            "inquiry": {"sent_on": "November 24, 2026", "followup_number": 2,
                        "response_due": f"{due:%B} {due.day}, {due.year}"},
            "message": {"sender": "pat@example.com", "sender_name": "Pat Example", "kind": "constituent",
                        "channel": "email", "subject": "Pension", "body": message.body,
                        "at": f"November 23, 2026 {at:%H:%M}",
                        "files": [{"name": "award-letter.pdf", "type": "PDF", "size": "2.0 KB", "attached": True}]},
            "links": {"privacy_release_url": config.letters.privacy_release_url,
                      "privacy_release_attached": bool(config.letters.privacy_release_form),
                      "survey_url": config.letters.survey_url, "release_sign_url": "", "release_sign_until": ""},
            "notice": "New message from Pat Example", "text": "", "first_notice": True,
            "today": "December 3, 2026", "status": [], "language": "en",
        }
        extra = {"letter": "agency-followup", "message_row_id": message.id, "notice": "New message from Pat Example",
                 FIRST: True}
        assert case_context(session, config, case, now, extra) == expected
        session.add(Message(case_id=case.id, direction="in", channel="email", kind="agency", disposition="case",
                            dedupe_key="agency-answer", at=START + timedelta(days=3),
                            received_at=START + timedelta(days=3)))
        session.flush()
        answered = case_context(session, config, case, now, extra)
        assert answered == {**expected, "inquiry": {**expected["inquiry"], "response_due": ""}}, \
            "the agency wrote after the inquiry: nothing is due from it"
        session.rollback()


def test_a_case_without_releases_or_inquiry_and_a_letter_about_no_message(hub: Hub) -> None:
    feed(hub, email(sender="Pat Example <pat@example.com>", subject="Pension", body="My pension stopped."))
    with hub.sessions() as session:
        case = session.scalars(select(Case)).one()
        context = case_context(session, hub.config, case, hub.clock.now(), {"message_row_id": 10**6})
        assert context["release"] == {"on_file": False, "signed_on": "", "attached": False}
        assert context["inquiry"] == {"sent_on": "", "response_due": "", "followup_number": 0}
        assert context["message"] == {**dict.fromkeys(("sender", "sender_name", "kind", "channel", "subject", "body",
                                                       "at"), ""), "files": []}
        session.rollback()

"""A case's mail to the caseworker reads as one conversation, over real SMTP, on SQLite and PostgreSQL.

The constituent writes twice (the second time with a scan), the agency answers, the caseworker answers a
later notice with commands, and a follow-up she set falls due: every message the hub sends her about the
case answers the case's first notice (In-Reply-To/References; Outlook's Thread-Topic and Thread-Index too),
each subject says what happened and who, nothing more, and only the first notice lists the commands.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.cli.case_actions import run_action
from hub.core.app import Hub
from hub.core.models import Case, Event
from tests.helpers import OFFICE_ADDRESS, STAFF, STAFF_AUTHENTICATED, make_office
from tests.integration.test_round_trip import LIAISON, PAT, arrive, cycle, from_agency, mail, only_case
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration
COMMANDS = ("#assign", "#agency", "#send", "#release", "#to agency", "#note", "#close")


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(), agencies={"ssa": {
        "liaison": LIAISON}})
    yield hub
    hub.close()


def to_staff(smtp: SmtpServer) -> list[EmailMessage]:
    return [captured.message for captured in smtp.sent_to(STAFF)]


def text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def answer(notice: EmailMessage, commands: str) -> EmailMessage:
    """The caseworker's reply to a notice, as her mail client writes it: the notice's thread, one more link."""
    reply = mail(f"Maria Lopez <{STAFF}>", str(notice["Reply-To"]), f"RE: {notice['Subject']}",
                 f"{commands}\n\n{text(notice)}", str(notice["Message-ID"]),
                 f"{notice['References'] or ''} {notice['Message-ID']}".strip())
    reply["Authentication-Results"] = STAFF_AUTHENTICATED
    return reply


def test_a_cases_notices_are_one_thread_with_short_subjects(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    arrive(hub, mail(f"Pat Rivera <{PAT}>", OFFICE_ADDRESS, "My pension statement",
                     "Hello, my pension statement has my old address on it. Can you help?"))
    cycle(hub)
    ref = only_case(hub).ref
    (first,) = to_staff(smtp)
    assert first["Subject"] == f"[{ref}] New case from Pat Rivera"
    assert first["In-Reply-To"] is None and first["References"] is None, "the thread's root"
    assert all(command in text(first) for command in COMMANDS), text(first)

    letter_send.send(hub, "privacy-release-request", ref, None, force=False)
    cycle(hub)
    asked = smtp.sent_to(PAT)[-1].message
    again = mail(f"Pat Rivera <{PAT}>", str(asked["Reply-To"]), f"Re: {asked['Subject']}",
                 "Here is the form, signed.", str(asked["Message-ID"]))
    again.add_attachment(b"%PDF-1.4 signed", maintype="application", subtype="pdf", filename="release.pdf")
    arrive(hub, again)
    cycle(hub)
    second = to_staff(smtp)[-1]
    assert second["Subject"] == f"[{ref}] New message from Pat Rivera", "the release hint is in the body"
    assert "reply #release received YYYY-MM-DD" in text(second).replace("\n", " ")

    assert run_action(hub, ref, "release", "received 2026-11-20").startswith("privacy release on file")
    letter_send.send(hub, "agency-inquiry", ref, LIAISON, force=False)
    cycle(hub)
    inquiry = smtp.sent_to(LIAISON)[0].message
    arrive(hub, from_agency(mail(f"SSA Congressional Unit <{LIAISON}>", OFFICE_ADDRESS, "Inquiry response",
                                 "We are reviewing the payments.", str(inquiry["Message-ID"]))))
    cycle(hub)
    from_ssa = to_staff(smtp)[-1]
    assert from_ssa["Subject"] == f"[{ref}] Answer from SSA"

    # She answers the latest notice, not the first: the commands apply to the case all the same.
    arrive(hub, answer(from_ssa, "#label pension\n#followup 14d"))
    cycle(hub)
    with hub.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.labels == ["pension"]
        assert session.scalars(select(Event.kind).where(Event.case_id == case.id, Event.kind == "followup-set")).all()
    done, invitation = sorted(to_staff(smtp)[3:], key=lambda message: str(message["Subject"]))
    assert done["Subject"] == f"[{ref}] Done"
    assert str(invitation["Subject"]).startswith(f"[{ref}] Follow-up on December 7, 2026")

    cycle(hub, timedelta(days=15))
    due = [message for message in to_staff(smtp) if message["Subject"] == f"[{ref}] Follow-up due"]
    assert len(due) == 1, [str(message["Subject"]) for message in to_staff(smtp)]

    # A client that keeps no threading headers and writes to the office's address: the subject still carries
    # the case, and her note lands on it.
    (reminder,) = due
    bare = mail(f"Maria Lopez <{STAFF}>", OFFICE_ADDRESS, f"RE: {reminder['Subject']}", "#note called Pat, all fine")
    bare["Authentication-Results"] = STAFF_AUTHENTICATED
    arrive(hub, bare)
    cycle(hub)
    with hub.sessions() as session:
        notes = session.scalars(select(Event.detail).where(Event.kind == "note")).all()
    assert notes == ["called Pat, all fine"]

    notices = [message for message in to_staff(smtp) if ref in str(message["Subject"])]
    assert sorted(str(message["Subject"]).removeprefix(f"[{ref}] ") for message in notices) == [
        "Answer from SSA", "Done", "Done", "Follow-up due", "Follow-up on December 7, 2026", "New case from Pat Rivera",
        "New message from Pat Rivera", "Nobody assigned"], "the nudge too: the case is still unassigned"
    root = str(first["Message-ID"]).strip()
    for later in notices[1:]:
        assert root in str(later["References"]).split(), (later["Subject"], later["References"])
        assert not any(command in text(later) for command in ("#assign", "#agency", "#note")), later["Subject"]
        assert len(str(later["Subject"])) <= len(ref) + 40, later["Subject"]
    for later in (second, from_ssa):
        assert str(later["In-Reply-To"]).strip() == root and "\n#help lists the commands.\n" in text(later)
    assert {str(message["Thread-Topic"]) for message in notices} == {f"[{ref}] My pension statement"}
    indexes = [base64.b64decode(str(message["Thread-Index"])) for message in notices]
    assert len(indexes[0]) == 22 and all(len(index) == 27 for index in indexes[1:])
    assert all(str(message["In-Reply-To"]).strip() != root for message in notices if message["Subject"] ==
               f"[{ref}] Done"), "the answer to her commands answers her mail, and is in the thread by References"
    assert {index[:1] + index[6:22] for index in indexes} == {indexes[0][:1] + indexes[0][6:22]}, \
        "one Outlook conversation: the same GUID"

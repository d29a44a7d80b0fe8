"""Web-form notifications through the real inbound path, on SQLite and PostgreSQL: three plugins' layouts
each open a case for the person who filled the form in, whose address gets the acknowledgement (over a
real SMTP server, or into the sent Maildir); a signed release on the form is recorded; follow-ups thread like
the person's own mail; a submission the map cannot read, and mail that only claims to be the form's, wait
in triage and change nothing."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Case, Event, Message, Outbox, Release
from hub.delivery.deliver import deliver_due
from hub.run.cycle import run_once
from tests.helpers import STAFF, email, feed, make_office, stored_raw, tally, trust_warnings
from tests.servers.smtp import SmtpServer
from tests.servers.twilio import FakeTwilio, running_twilio
from tests.web_forms import (
    CASEWORK_FORM,
    CONTACT_FORM,
    FORMS_CONFIG,
    WEBFORM,
    casework_form,
    contact_form,
    notification,
    webform,
)

pytestmark = pytest.mark.integration
PAT = "pat.rivera@example.com"


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(), tables=FORMS_CONFIG)
    yield hub
    hub.close()


def case_of(hub: Hub, ref: str | None) -> Case:
    with hub.sessions() as session:
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        session.expunge_all()
        return case


def rows(hub: Hub, model: type, *where: object) -> list:  # type: ignore[type-arg]
    with hub.sessions() as session:
        found = list(session.scalars(select(model).where(*where).order_by(model.id)))  # type: ignore[attr-defined]
        session.expunge_all()
        return found


def notices(hub: Hub) -> list[str]:
    """Each notice: its subject's line, and the rest below it."""
    return [f"{row.context.get('notice')}\n{row.context.get('text')}"
            for row in rows(hub, Outbox, Outbox.letter == "caseworker-notification")]


def deliver(hub: Hub) -> None:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(minutes=1))
    deliver_due(hub)


@pytest.mark.parametrize("raw, person, name, phone, address, zip_code, body", [
    (contact_form(), PAT, "Pat Rivera", "+19195550142", None, None,
     "My daughter's passport application has been pending for ten weeks.\n\n"
     "We fly to Lima on December 4 for my mother's surgery."),
    (casework_form(), "rchen58@example.org", "Robert Chen", "+19195550187", "1412 Cedar Fork Rd\nDurham\nNC", "27713",
     "I filed a disability claim for hearing loss in March.\n"
     "The VA has not scheduled my exam and my claim shows no progress."),
    (webform(), "lucia.gomez@example.net", "Lucía Gómez", "+19845550123", "88 Alston Ave\nDurham, NC", "27701",
     "Mi solicitud de residencia (I-485) lleva 14 meses sin respuesta.\n"
     "USCIS me pidió huellas en mayo y no he sabido nada más."),
], ids=["contact-form-7", "casework-table", "drupal-webform"])
def test_a_form_opens_a_case_for_the_person_who_gets_the_acknowledgement(
        office: Hub, smtp: SmtpServer, raw: bytes, person: str, name: str, phone: str, address: str | None,
        zip_code: str | None, body: str) -> None:
    outcome = feed(office, raw)

    assert outcome.fate == "new-case"
    case = case_of(office, outcome.case_ref)
    assert case.constituent is not None
    assert (case.constituent.email, case.constituent.name, case.constituent.phone) == (person, name, phone)
    assert (case.constituent.postal_address, case.constituent.zip_code) == (address, zip_code)
    assert case.contact_channel == "email"
    [message] = rows(office, Message, Message.direction == "in")
    assert (message.sender, message.sender_name, message.kind, message.body) == (person, name, "constituent", body)
    assert stored_raw(office, message) == raw, "the notification is kept as it came"

    deliver(office)
    [acknowledgement] = smtp.sent_to(person)
    assert f"[{outcome.case_ref}]" in acknowledgement.message["Subject"]
    assert f"Dear {name.split()[0]}," in acknowledgement.message.get_content()
    assert not smtp.sent_to(CONTACT_FORM) + smtp.sent_to(CASEWORK_FORM) + smtp.sent_to(WEBFORM), \
        "nothing goes to the form's robot"
    [notice] = smtp.sent_to(STAFF)
    assert f"From:     {name} <{person}>" in notice.message.get_content()
    assert (address or "").split("\n")[0] in notice.message.get_content()


def test_a_release_signed_on_the_form_is_recorded_with_the_submission_as_evidence(office: Hub) -> None:
    outcome = feed(office, casework_form())

    case = case_of(office, outcome.case_ref)
    [release] = rows(office, Release, Release.case_id == case.id)
    [message] = rows(office, Message, Message.case_id == case.id)
    assert (release.method, release.signed_on, release.message_id, release.attachment_id) == (
        "web form", date(2026, 11, 23), message.id, None)
    [event] = rows(office, Event, Event.case_id == case.id, Event.kind == "release-received")
    assert event.detail == f"signed 2026-11-23, web form, message {message.id}, signed by Robert J. Chen"
    assert notices(office) == ["New case from Robert Chen\nBy web form Casework authorization.\nA privacy release "
                               "was signed on the form (Robert J. Chen) and is recorded."]


def test_a_release_box_ticked_without_a_name_records_nothing_and_says_so(office: Hub) -> None:
    outcome = feed(office, casework_form(signature=""))

    assert outcome.fate == "new-case"
    assert rows(office, Release) == []
    assert notices(office) == ["New case from Robert Chen\nBy web form Casework authorization.\nThe form's "
                               "privacy-release box is ticked but no name is typed to sign it: no release recorded."]


def test_follow_ups_thread_like_the_persons_own_mail(office: Hub) -> None:
    ref = feed(office, contact_form()).case_ref
    assert ref is not None

    again = feed(office, contact_form(subject=f"More about {ref}", message="Her flight is now December 2."))
    by_mail = feed(office, email(sender=f"Pat Rivera <{PAT}>", subject=f"Re: [{ref}] We received your message",
                                 body="Here is her old passport number."))
    unrelated = feed(office, contact_form(subject="Another matter", message="My VA claim is stuck as well."))
    stranger = feed(office, contact_form(name="Sam Stranger", email="sam@example.org", phone="",
                                         subject=f"About {ref}", message="What is happening with this case?"))

    assert (again.fate, again.case_ref, again.reason) == ("case", ref, "threaded by body"), \
        "the form's subject field is in the notification's body"
    assert (by_mail.fate, by_mail.case_ref) == ("case", ref)
    assert unrelated.fate == "new-case" and unrelated.case_ref != ref
    assert (stranger.fate, stranger.reason) == ("triage", f"sender is not a party on {ref}")
    assert notices(office)[1] == "Web form from Pat Rivera\nWeb form Contact."
    assert len(rows(office, Outbox, Outbox.letter == "acknowledgement")) == 2, "one per new case"


def test_a_follow_up_fills_in_what_the_party_lacks_and_brings_the_release(office: Hub) -> None:
    ref = feed(office, email(sender="rchen58@example.org", subject="VA claim")).case_ref
    follow_up = casework_form().replace(b"New submission from", f"{ref}: New submission from".encode())

    assert feed(office, follow_up).case_ref == ref
    case = case_of(office, ref)
    assert case.constituent is not None
    assert (case.constituent.name, case.constituent.phone, case.constituent.zip_code) == (
        "Robert Chen", "+19195550187", "27713")
    assert [release.method for release in rows(office, Release, Release.case_id == case.id)] == ["web form"]
    [event] = rows(office, Event, Event.kind == "constituent-updated")
    assert event.detail == "from web form Casework authorization: name, phone, postal address, ZIP"


@pytest.mark.parametrize("raw", [
    notification(CONTACT_FORM, "Contact form", text="Hello, this is a test of the form.\nThanks!"),
    contact_form(name="Pat Rivera", email="", phone=""),
], ids=["no-labels", "no-contact"])
def test_a_submission_the_map_cannot_read_waits_in_triage(office: Hub, raw: bytes) -> None:
    outcome = feed(office, raw)

    assert outcome.fate == "triage" and outcome.reason.startswith("form not understood: ")
    [held] = rows(office, Message, Message.direction == "in")
    assert (held.sender, held.disposition, stored_raw(office, held)) == (CONTACT_FORM, "triage", raw)
    assert tally(office).cases == 0 and [row.letter for row in rows(office, Outbox)] == ["triage-notice"], \
        "only the intake address is told"


def test_a_forged_form_opens_no_case_records_no_release_and_stays_in_triage(office: Hub) -> None:
    """Anyone can write the form's address into From:. Here someone does, naming Robert's address, ticking
    the release and quoting his case's reference: it waits in triage as mail from the form's address."""
    ref = feed(office, casework_form()).case_ref
    forged = casework_form(authenticated=False).replace(b"New submission from", f"{ref} New submission".encode())

    outcome = feed(office, forged)

    assert (outcome.fate, outcome.reason) == ("triage", "from the address of web form Casework authorization but "
                                                        "not authenticated: no Authentication-Results from "
                                                        "mx.doe.example.gov")
    [held] = rows(office, Message, Message.disposition == "triage")
    assert (held.sender, held.case_id) == (CASEWORK_FORM, None)
    assert (tally(office).cases, len(rows(office, Release))) == (1, 1), "only the genuine form's"
    assert [row.letter for row in rows(office, Outbox)] == ["acknowledgement", "caseworker-notification",
                                                            "triage-notice"]


def test_a_form_with_only_a_phone_and_no_sms_line_waits_for_a_call(office: Hub, smtp: SmtpServer) -> None:
    outcome = feed(office, contact_form(email=""))

    case = case_of(office, outcome.case_ref)
    assert case.constituent is not None and (case.constituent.email, case.constituent.phone) == (None, "+19195550142")
    assert rows(office, Outbox, Outbox.letter == "acknowledgement") == []
    assert notices(office) == ["New URGENT case from Pat Rivera\nUrgent: passport: travel on December 4, 2026 (in 11 "
                               "days).\nBy web form Contact.\nThe form gives a phone number and no email address, and "
                               "the office has no SMS line, so no acknowledgement went: please call them."]
    deliver(office)
    assert [message.rcpt_tos for message in smtp.messages] == [(STAFF,)]


def test_a_form_with_only_a_phone_is_acknowledged_by_text_on_an_sms_line(
        tmp_path: Path, database_url: str, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_twilio(number="+15555550100") as twilio:
        monkeypatch.setenv("HUB_TEST_TWILIO_TOKEN", twilio.auth_token)
        hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(), tables=FORMS_CONFIG, sms={
            "account_sid": twilio.account_sid, "number": "+15555550100", "auth_token_env": "HUB_TEST_TWILIO_TOKEN",
            "api_base": twilio.api_base, "poll": False})
        try:
            outcome = feed(hub, contact_form(email=""))
            assert case_of(hub, outcome.case_ref).contact_channel == "sms"
            deliver(hub)
            [text] = sent_texts(twilio, "+19195550142")
            assert outcome.case_ref is not None and outcome.case_ref in text and "Pat" in text
        finally:
            hub.close()


def sent_texts(twilio: FakeTwilio, number: str) -> list[str]:
    return [str(message["body"]) for message in twilio.sent(number)]


def test_forms_in_the_inbox_are_filed_by_a_cycle_and_acknowledged_into_the_sent_maildir(
        tmp_path: Path, database_url: str) -> None:
    """The daemon's path: the Maildir inbox read through the parse worker, the letters into the sent Maildir."""
    hub = make_office(tmp_path / "office", database_url, tables=FORMS_CONFIG)
    try:
        inbox = mailbox.Maildir(hub.config.resolve("var/inbox"), create=True)
        for raw in (contact_form(), casework_form(), webform(), contact_form(authenticated=False)):
            inbox.add(raw)

        cycle = run_once(hub)

        assert len(cycle.inbox.new_cases) == 3
        sent = [message for message in mailbox.Maildir(hub.config.resolve("var/sent"), create=False)]
        acknowledged = sorted(str(message["To"]) for message in sent if "We received" in str(message["Subject"]))
        assert acknowledged == ["lucia.gomez@example.net", PAT, "rchen58@example.org"]
        assert tally(hub).triage == 1
    finally:
        hub.close()


def test_a_form_marked_as_never_authenticating_is_believed_with_a_warning_at_start(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    hub = make_office(tmp_path / "office", database_url, tables=f'''
[[forms]]
sender = "{CONTACT_FORM}"
name = "Contact"
require_authentication = false
''')
    try:
        assert feed(hub, contact_form(authenticated=False)).fate == "new-case"
    finally:
        hub.close()

    assert trust_warnings(tmp_path / "office/config/hub.toml", caplog) == [
        "[[forms]] Contact: require_authentication = false: anyone who writes its address into From: can open a "
        "case, and record a privacy release, in someone else's name"]

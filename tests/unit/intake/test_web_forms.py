"""Web forms before identify: which notifications are a form's, and the person each one becomes; the
[[forms]] tables' mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.core import config as config_module
from hub.core.config import Config
from hub.core.errors import ConfigError
from hub.intake.message import InboundMessage
from hub.intake.parse.email import parse_email
from hub.intake.screen import Screening, screen
from hub.intake.web_forms import read_submission
from hub.run.office import init_office
from tests.helpers import email
from tests.web_forms import (
    CASEWORK_FORM,
    CONTACT_FORM,
    FORMS_CONFIG,
    RECEIVED,
    casework_form,
    contact_form,
    notification,
    vouched_for,
    webform,
)


@pytest.fixture
def office(tmp_path: Path) -> Path:
    return init_office(tmp_path / "office")


def load(office: Path, tables: str = FORMS_CONFIG) -> Config:
    office.write_text(office.read_text() + tables)
    return config_module.load(office)


def read(config: Config, raw: bytes) -> tuple[InboundMessage, Screening]:
    message = parse_email(raw, "test", 10**7)
    return read_submission(message, screen(message, config.office.domain), config)


def test_a_contact_form_becomes_the_persons_message(office: Path) -> None:
    raw = contact_form()
    message, screening = read(load(office), raw)
    assert (message.sender, message.sender_name, message.subject) == ("pat.rivera@example.com", "Pat Rivera",
                                                                      "Passport for my daughter")
    assert message.new_text.startswith("My daughter's passport application") and "contact form on" not in \
        message.new_text
    assert message.raw == raw and message.from_address == CONTACT_FORM, "the notification itself is kept"
    assert message.form is not None and (message.form.form_name, message.form.phone) == ("Contact", "+19195550142")
    assert screening.verdict == "ok"


def test_a_casework_form_gives_address_zip_and_a_signed_release_and_is_not_automatic_mail(office: Path) -> None:
    config = load(office)
    raw = casework_form()
    assert screen(parse_email(raw, "test", 10**7), config.office.domain).verdict != "ok", \
        "its robot marks it automatic"
    message, screening = read(config, raw)
    form = message.form
    assert form is not None and not form.problem
    assert (message.sender, form.name, form.phone) == ("rchen58@example.org", "Robert Chen", "+19195550187")
    assert (form.postal_address, form.zip_code) == ("1412 Cedar Fork Rd\nDurham\nNC", "27713")
    assert (form.release_signature, form.release_note) == ("Robert J. Chen", "")
    assert message.subject == "New submission from Casework Authorization Form", "no subject field: the mail's"
    assert screening.verdict == "ok"


def test_a_webform_gives_the_person_in_reply_to(office: Path) -> None:
    message, _ = read(load(office), webform())
    assert (message.sender, message.sender_name) == ("lucia.gomez@example.net", "Lucía Gómez")
    assert message.form is not None and message.form.postal_address == "88 Alston Ave\nDurham, NC"


@pytest.mark.parametrize("results, why", [
    (None, "no Authentication-Results from mx.doe.example.gov"),
    ("mx.doe.example.gov; dkim=fail header.d=doe.example.gov; dmarc=fail header.from=doe.example.gov",
     "dmarc=fail for doe.example.gov"),
    ("mx.doe.example.gov; dkim=pass header.d=forger.example; spf=pass smtp.mailfrom=forger.example",
     "dkim=pass for forger.example, not doe.example.gov; spf=pass for forger.example, not doe.example.gov"),
    ("mx.forger.example; dkim=pass header.d=doe.example.gov; dmarc=pass header.from=doe.example.gov",
     "no Authentication-Results from mx.doe.example.gov"),
])
def test_mail_from_a_forms_address_the_office_server_does_not_vouch_for_stays_the_robots(
        office: Path, results: str | None, why: str) -> None:
    raw = contact_form(authenticated=False)
    if results:
        raw = f"Authentication-Results: {results}\r\n".encode() + raw
    message, screening = read(load(office), raw)
    assert message.sender == CONTACT_FORM and message.new_text.startswith("Name: Pat Rivera")
    assert message.form is not None
    assert message.form.problem == f"from the address of web form Contact but not authenticated: {why}"
    assert not message.form.email and not message.form.release_signature


def test_authentication_results_the_sender_wrote_below_the_received_line_do_not_count(office: Path) -> None:
    raw = contact_form(authenticated=False).replace(
        f"Received: {RECEIVED}".encode(),
        f"Received: {RECEIVED}\nAuthentication-Results: {vouched_for(CONTACT_FORM)}".encode())
    message, _ = read(load(office), raw)
    assert message.form is not None and "not authenticated" in message.form.problem


def test_a_form_that_never_authenticates_can_be_believed_when_the_office_says_so(office: Path) -> None:
    config = load(office, f'[[forms]]\nsender = "{CONTACT_FORM}"\nrequire_authentication = false\n')
    message, _ = read(config, contact_form(authenticated=False))
    assert message.sender == "pat.rivera@example.com"
    assert config.forms[0].name == CONTACT_FORM, "the name defaults to the address"


def test_a_form_with_only_a_phone_number_is_from_that_number(office: Path) -> None:
    message, _ = read(load(office), contact_form(email=""))
    assert message.sender == "+19195550142" and message.channel == "email"


@pytest.mark.parametrize("raw, problem", [
    (contact_form(name="", email="", phone=""),
     "form not understood: no email address or phone number for the person (web form Contact)"),
    (contact_form(email="pat at example dot com", phone="call me"),
     "form not understood: no email address or phone number for the person (web form Contact)"),
    (notification(CONTACT_FORM, "Contact form", text="Hello, this is a test of the form.\nThanks!"),
     "form not understood: none of the labels of web form Contact were found"),
    (notification(CONTACT_FORM, "Contact form", text="Name: Pat\nEmail: pat@example.com\n"),
     "form not understood: no message (web form Contact)"),
    (contact_form(email=CONTACT_FORM, phone=""),
     "form not understood: no email address or phone number for the person (web form Contact)"),
    (contact_form(email="maria.lopez@doe.example.gov"),
     "web form Contact gives a staff address as the person's: a caseworker decides"),
    (contact_form(email="benefits@ssa.gov"),
     "web form Contact gives an agency address as the person's: a caseworker decides"),
])
def test_a_submission_that_cannot_be_read_stays_the_robots_with_the_reason(office: Path, raw: bytes,
                                                                           problem: str) -> None:
    message, _ = read(load(office), raw)
    assert message.sender == CONTACT_FORM
    assert message.form is not None and message.form.problem == problem


@pytest.mark.parametrize("release, signature, expected", [
    (True, "Robert J. Chen", ("Robert J. Chen", "")),
    (True, "", ("", "the form's privacy-release box is ticked but no name is typed to sign it: no release "
                    "recorded")),
    (False, "Robert J. Chen", ("", "a name is typed to sign the form's privacy release but its box is not ticked: "
                                   "no release recorded")),
    (False, "", ("", "")),
])
def test_a_release_needs_the_box_ticked_and_a_name_typed(office: Path, release: bool, signature: str,
                                                         expected: tuple[str, str]) -> None:
    message, _ = read(load(office), casework_form(release=release, signature=signature))
    assert message.form is not None
    assert (message.form.release_signature, message.form.release_note) == expected


def test_two_forms_from_one_address_the_map_that_reads_more_of_it_wins(office: Path) -> None:
    config = load(office, f'''
[[forms]]
sender = "{CONTACT_FORM}"
name = "Newsletter"
fields = {{ email = "Subscriber", message = "Topics" }}

[[forms]]
sender = "{CONTACT_FORM}"
name = "Contact"
''')
    message, _ = read(config, contact_form())
    assert message.form is not None and message.form.form_name == "Contact"


def test_ordinary_mail_and_a_forms_bounce_are_left_alone(office: Path) -> None:
    config = load(office)
    plain = parse_email(email(), "test", 10**7)
    assert read_submission(plain, screen(plain, config.office.domain), config) == (
        plain, screen(plain, config.office.domain))
    bounce = parse_email(email(sender=CASEWORK_FORM, headers={"X-Failed-Recipients": "x@example.com"}), "test", 10**7)
    screening = screen(bounce, config.office.domain)
    assert screening.verdict == "bounce"
    assert read_submission(bounce, screening, config) == (bounce, screening)


@pytest.mark.parametrize("tables, expected", [
    ('[[forms]]\nname = "Contact"\n', "[forms #1] sender: missing"),
    ('[[forms]]\nsender = "wordpress"\n', "[forms #1] sender: not an email address"),
    ('[[forms]]\nsender = "casework@doe.example.gov"\n',
     "[forms #1] sender: casework@doe.example.gov is the office's or a staff member's own address"),
    ('[[forms]]\nsender = "a@doe.example.gov"\nsendr = "b@doe.example.gov"\n',
     "[forms #1] sendr: unknown key, did you mean sender?"),
    ('[[forms]]\nsender = "a@doe.example.gov"\n[forms.fields]\nemial = "Email"\n',
     "[forms #1.fields] emial: unknown key, did you mean email?"),
    ('[[forms]]\nsender = "a@doe.example.gov"\n[forms.fields]\nphone = 5\n',
     "[forms #1.fields] phone: expected a label or a list of labels, got 5"),
    ('[[forms]]\nsender = "a@doe.example.gov"\n[forms.fields]\naddress = ["Street", ""]\n',
     "[forms #1.fields] address: expected a label or a list of labels"),
    ('[[form]]\nsender = "a@doe.example.gov"\n', "[[form]]: unknown section, did you mean [[forms]]?"),
])
def test_form_table_mistakes_name_the_file_and_key(office: Path, tables: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(office, tables)
    assert str(raised.value).startswith(str(office)) and expected in str(raised.value)


def test_the_commented_example_in_hub_toml_loads_when_uncommented(office: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "config" / "hub.toml").read_text()
    block = text[text.index("# [[forms]]"):text.index("# One [[staff]]")]
    example = "\n".join(line[2:] for line in block.splitlines() if re.match(r"^# (\[|\w+ = )", line))
    [form] = load(office, "\n" + example + "\n").forms
    assert (form.sender, form.name, form.require_authentication) == ("noreply@forms.doe.example.gov",
                                                                     "Casework authorization", True)
    assert form.labels("address") == ("Street Address", "City", "State")
    assert form.labels("email") == ("Email", "E-mail", "Email Address", "E-mail Address", "Your Email")

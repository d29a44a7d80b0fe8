"""The office's letters: every packaged letter reads well, full or empty; every template mistake is one line."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest

from hub.core import config as config_module
from hub.core.config import Config
from hub.letters.sms_text import gsm7_safe, segments
from hub.letters.templates import CONTEXT_KEYS, TO_STAFF, LetterError, Letters, sample_context
from hub.run.office import init_office

PACKAGED = ["acknowledgement", "agency-delay", "agency-followup", "agency-inquiry", "case-closed", "case-list",
            "case-status", "caseworker-digest", "caseworker-notification",
            "command-reply", "constituent-checkin", "constituent-update", "followup-invitation", "followup-reminder",
            "privacy-release-request", "satisfaction-survey"]
# Two spaces after a word or punctuation: an empty value dropped into prose ("Dear  ,", "of  the").
# Aligned columns ("Case:         CW-…") and indented list lines are fine.
DOUBLE_SPACE = re.compile(r"[\w,.;)]  +\S")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return config_module.load(init_office(tmp_path_factory.mktemp("letters") / "office"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An office letters folder of its own, so an override in one test never leaks into another."""
    path = tmp_path / "letters"
    path.mkdir()
    return path


def empty(context: dict[str, Any]) -> dict[str, Any]:
    """The sparest case a letter can meet: no names, no agency, no release, no links, no office extras."""
    context = copy.deepcopy(context)
    context["office"].update(member="", phone="", hours="", website="")
    context["case"].update(subject="", agency_control="", summary="", identifiers=[])
    context["constituent"] = {"name": "", "first_name": "", "email": "", "phone": "", "address": "", "zip": ""}
    context["recipient"] = {"name": "", "first_name": "", "role": "constituent"}
    context["caseworker"] = {"name": "Casework Team", "first_name": "", "title": "", "email": "team@example.gov"}
    context["agency"] = {"key": "", "name": "", "liaison": "", "response_days": 0, "business_days": False}
    context["release"] = {"on_file": False, "signed_on": "", "attached": False}
    context["inquiry"] = {"sent_on": "", "response_due": "", "followup_number": 0}
    context["message"] = {key: "" for key in context["message"]}
    context["links"] = {"privacy_release_url": "", "privacy_release_attached": False, "survey_url": "",
                        "release_sign_url": "", "release_sign_until": ""}
    context["notice"] = context["text"] = ""
    return context


def assert_reads_well(subject: str, body: str) -> None:
    for text in (subject, body):
        assert text.strip()
        for bad in ("None", "{{", "{%", "}}", "Dear ,", "Dear  ", " ,", " .", "()", "the the", ": ."):
            assert bad not in text, (bad, text)
    assert "\n" not in subject and subject == subject.strip()
    assert "\n\n\n" not in body, body
    assert body == body.strip("\n")
    for line in body.splitlines():
        assert line == line.rstrip(), f"trailing space: {line!r}"
        assert len(line) <= 78, f"too long: {line!r}"
        assert not DOUBLE_SPACE.search(line), f"double space: {line!r}"


def test_the_packaged_letters_are_there() -> None:
    assert Letters(None).names() == PACKAGED
    assert Letters(None).names("sms") == SMS_PACKAGED


@pytest.mark.parametrize("name", PACKAGED)
def test_every_letter_reads_well_for_the_sample_case(config: Config, name: str) -> None:
    context = sample_context(config, name)
    letter = Letters(None).render(name, context)
    assert (letter.name, letter.channel) == (name, "email")
    assert_reads_well(letter.subject, letter.body)
    assert context["case"]["ref"] not in letter.subject  # the hub adds the reference tag itself
    assert context["case"]["ref"] not in letter.body.splitlines()[-1]  # and the footer


@pytest.mark.parametrize("name", PACKAGED)
def test_every_letter_reads_well_with_nothing_optional(config: Config, name: str) -> None:
    letter = Letters(None).render(name, empty(sample_context(config, name)))
    assert_reads_well(letter.subject, letter.body)
    if name not in ("agency-inquiry", "agency-followup", *TO_STAFF):
        assert letter.body.startswith("Dear Constituent,\n")


@pytest.mark.parametrize("name", PACKAGED)
def test_long_agency_names_still_fit_the_line(config: Config, name: str) -> None:
    letters = Letters(None)
    for agency in config.agencies:
        for context in (sample_context(config, name), empty(sample_context(config, name))):
            context["agency"].update(key=agency.key, name=agency.name)
            context["inquiry"]["followup_number"] = 3
            letter = letters.render(name, context)
            assert_reads_well(letter.subject, letter.body)


def test_the_greeting_uses_the_first_name_else_the_name(config: Config) -> None:
    context = sample_context(config)
    assert Letters(None).render("constituent-update", context).body.startswith("Dear Pat,\n")
    context["recipient"]["first_name"] = ""
    assert Letters(None).render("constituent-update", context).body.startswith("Dear Pat Rivera,\n")
    context["recipient"] = {"name": "Sam Lee", "first_name": "Sam", "role": "spouse"}  # a person on the case
    assert Letters(None).render("constituent-update", context).body.startswith("Dear Sam,\n")
    assert Letters(None).render("constituent-update", context, "sms").body.startswith(
        "Office of Representative Jane Doe: Hi Sam, ")


def test_letters_are_signed_by_the_caseworker_for_the_office(config: Config) -> None:
    context = sample_context(config)
    for name in PACKAGED:
        if name not in TO_STAFF:
            body = Letters(None).render(name, context).body
            assert "Maria Lopez\nConstituent Services Representative\nOffice of Representative Jane Doe" in body


def test_the_agency_inquiry_carries_what_the_agency_needs(config: Config) -> None:
    context = sample_context(config, "agency-inquiry")
    context["case"]["agency_control"] = "2026-NC-88121"
    body = Letters(None).render("agency-inquiry", context).body
    assert body.startswith("Congressional Liaison\nSocial Security Administration\n\nDear Congressional Liaison:")
    for needed in ("Constituent: Pat Rivera", "Date of birth: March 14, 1961",
                   "Social Security number (last four): 4821", "Mailing address: 214 Oak Street",
                   "disability payments stopped after the", "Your agency's reference: 2026-NC-88121",
                   f"response by {context['inquiry']['response_due']}.",
                   f"release of {context['release']['signed_on']}\nis attached.",
                   f"Our reference for this case is {context['case']['ref']}", "reply\nto this message"):
        assert needed in body, needed
    context["text"] = ""
    assert "I have called four times" in Letters(None).render("agency-inquiry", context).body  # case.summary
    body = Letters(None).render("agency-inquiry", empty(context)).body
    assert "release will follow separately" in body and "response by" not in body
    context["release"]["attached"] = False  # recorded from paper: on file, not sent
    body = Letters(None).render("agency-inquiry", context).body
    assert f"release of {context['release']['signed_on']}\nis on file with our office" in body


def test_the_agency_followup_counts_and_dates(config: Config) -> None:
    context = sample_context(config, "agency-followup")
    letter = Letters(None).render("agency-followup", context)
    assert letter.subject.startswith("Follow-up: congressional inquiry")
    assert f"On {context['inquiry']['sent_on']}, our office sent your agency" in letter.body
    context["inquiry"]["followup_number"] = 2
    letter = Letters(None).render("agency-followup", context)
    assert letter.subject.startswith("Second follow-up")
    assert "This is our second follow-up on this inquiry." in letter.body


@pytest.mark.parametrize(("url", "attached", "expected", "absent"), [
    ("https://doe.example.gov/release", True, ["attached to this email", "https://doe.example.gov/release"], []),
    ("https://doe.example.gov/release", False, ["download the form here:\nhttps://doe.example.gov/release"],
     ["attached"]),
    ("", True, ["The form is attached to this email."], ["download"]),
    ("", False, ["call our office at (202) 555-0100"], ["attached", "download"]),
])
def test_the_privacy_release_request_says_where_the_form_is(config: Config, url: str, attached: bool,
                                                            expected: list[str], absent: list[str]) -> None:
    context = sample_context(config, "privacy-release-request")
    context["links"].update(privacy_release_url=url, privacy_release_attached=attached)
    body = Letters(None).render("privacy-release-request", context).body
    letter = body.split("Sincerely,")[0]  # the signature carries the office's website
    assert all(text in letter for text in expected), body
    assert not any(text in letter for text in absent), body
    assert "scan or a clear photo" in body and "mail or fax" in body


def test_the_privacy_release_request_offers_the_signing_link_first_and_paper_still(config: Config) -> None:
    context = sample_context(config, "privacy-release-request")
    context["links"].update(release_sign_url="https://hub.doe.example.gov/release/TOKEN",
                            release_sign_until="December 6, 2026", privacy_release_attached=True)
    body = Letters(None).render("privacy-release-request", context).body
    flat = " ".join(body.split())
    assert "works once, until December 6, 2026" in flat and "\nhttps://hub.doe.example.gov/release/TOKEN\n" in body
    assert flat.index("release/TOKEN") < flat.index("If you would rather sign on paper") < flat.index("attached")
    context["links"]["release_sign_url"] = ""
    assert "sign on paper" not in Letters(None).render("privacy-release-request", context).body


def test_the_survey_asks_for_a_reply_when_there_is_no_link(config: Config) -> None:
    context = sample_context(config, "satisfaction-survey")
    context["links"]["survey_url"] = "https://doe.example.gov/survey"
    assert "\nhttps://doe.example.gov/survey\n" in Letters(None).render("satisfaction-survey", context).body
    context["links"]["survey_url"] = ""
    body = Letters(None).render("satisfaction-survey", context).body
    assert "http" not in body.split("Thank you")[0] and "reply to this email" in body


def test_the_notification_shows_the_case_the_message_and_the_commands(config: Config) -> None:
    context = sample_context(config, "caseworker-notification")
    letter = Letters(None).render("caseworker-notification", context)
    assert letter.subject == "New message from Pat Rivera", "what happened and who: nothing more"
    for needed in (f"Case:         {context['case']['ref']}", "Status:       waiting-agency",
                   "Email:        pat.rivera@example.com", "Phone:        (919) 555-0142",
                   "Agency:       Social Security Administration",
                   "From:     Pat Rivera <pat.rivera@example.com>", "Does that mean they got your inquiry?",
                   "#assign NAME", "#agency KEY", "#send privacy-release-request", "#release received YYYY-MM-DD",
                   "#to agency", "#note", "#close resolved"):
        assert needed in letter.body, needed


def test_only_the_first_notice_of_a_case_lists_the_commands(config: Config) -> None:
    context = {**sample_context(config, "caseworker-notification"), "first_notice": False,
               "text": "The attachment may be the signed privacy release: reply #release received YYYY-MM-DD."}
    body = Letters(None).render("caseworker-notification", context).body
    assert "#help lists the commands." in body.splitlines()
    assert "#assign" not in body and "#close" not in body
    assert body.startswith("New message from Pat Rivera\n\nThe attachment may be the signed privacy release"), \
        "the details open the body, under the subject's line"


def test_a_notification_without_a_message_has_no_message_block(config: Config) -> None:
    """Without a message the notification has no empty message block."""
    context = sample_context(config, "caseworker-notification")
    context["message"] = {key: "" for key in context["message"]}
    assert "Message" not in Letters(None).render("caseworker-notification", context).body


def test_a_misspelt_variable_names_the_file_and_the_dotted_path(config: Config, folder: Path) -> None:
    (folder / "agency-inquiry.email.j2").write_text("Subject: Inquiry\n\nDear liaison,\n{{ agency.liaisn }}\n")
    with pytest.raises(LetterError) as raised:
        Letters(folder).render("agency-inquiry", sample_context(config))
    message = str(raised.value)
    assert "agency-inquiry.email.j2 line 4: undefined variable agency.liaisn" in message
    assert "\n" not in message


def test_undefined_names_in_loops_and_lists_say_where(config: Config, folder: Path) -> None:
    (folder / "a.email.j2").write_text("Subject: A\n\n{% for i in case.identifiers %}{{ i.lable }}{% endfor %}")
    (folder / "b.email.j2").write_text("Subject: B\n\n{{ ofice.name }}")
    (folder / "c.email.j2").write_text("Subject: C\n\n{{ case.identifiers[9].label }}")
    letters = Letters(folder)
    expected = {"a": "undefined variable case.identifiers[0].lable", "b": "undefined variable ofice",
                "c": "case.identifiers has no item 9"}
    for name, problem in expected.items():
        with pytest.raises(LetterError, match=re.escape(problem)):
            letters.render(name, sample_context(config))


def test_an_office_letter_overrides_the_packaged_one(config: Config, folder: Path) -> None:
    text = "Subject: Thanks, {{ constituent.first_name }}\n\nWe have your message.\n"
    (folder / "acknowledgement.email.j2").write_text(text)
    letters = Letters(folder)
    letter = letters.render("acknowledgement", sample_context(config))
    assert (letter.subject, letter.body) == ("Thanks, Pat", "We have your message.")
    assert letters.source("acknowledgement") == text
    assert Letters(None).source("acknowledgement").startswith("Subject: We received your message")
    assert letters.names() == PACKAGED


def test_an_office_copy_added_later_takes_over_from_the_next_pass(config: Config, folder: Path) -> None:
    this_pass, watching = Letters(folder), Letters(folder, watch=True)
    for letters in (this_pass, watching):
        assert letters.render("case-closed", sample_context(config)).subject.startswith("We have closed your case")
    (folder / "case-closed.email.j2").write_text("Subject: Closed\n\nDone.\n")
    (folder / "holiday-hours.email.j2").write_text("Subject: Holiday hours\n\nClosed.\n")
    # A pass renders all its letters from the files as it first read them; the next pass reads them again.
    assert this_pass.render("case-closed", sample_context(config)).subject.startswith("We have closed your case")
    assert "holiday-hours" not in this_pass.names()
    for letters in (Letters(folder), watching):
        assert letters.render("case-closed", sample_context(config)).subject == "Closed"
        assert letters.render("holiday-hours", sample_context(config)).subject == "Holiday hours"


def test_an_edited_office_letter_counts_from_the_next_pass(config: Config, folder: Path) -> None:
    file = folder / "case-closed.email.j2"
    file.write_text("Subject: Closed\n\nDone.\n")
    this_pass, watching = Letters(folder), Letters(folder, watch=True)
    for letters in (this_pass, watching):
        assert letters.render("case-closed", sample_context(config)).subject == "Closed"
    file.write_text("Subject: Case closed\n\nDone.\n")
    os.utime(file, (file.stat().st_atime + 10, file.stat().st_mtime + 10))  # a later save, whatever the clock's grain
    assert this_pass.render("case-closed", sample_context(config)).subject == "Closed"
    for letters in (Letters(folder), watching):
        assert letters.render("case-closed", sample_context(config)).subject == "Case closed"


def test_a_broken_letter_fails_every_time_it_is_asked_for(config: Config, folder: Path) -> None:
    (folder / "x.email.j2").write_text("Subject: X\n\n{% if text %}\n")
    letters = Letters(folder)
    for _ in range(2):
        with pytest.raises(LetterError, match=r"x\.email\.j2 line 3: syntax error: "):
            letters.render("x", sample_context(config))
    with pytest.raises(LetterError, match="no letter named 'ackowledgement'"):
        letters.render("ackowledgement", sample_context(config))
    assert letters.render("acknowledgement", sample_context(config)).subject.startswith("We received your message")


def test_a_new_office_letter_is_known(config: Config, folder: Path) -> None:
    (folder / "holiday-hours.email.j2").write_text("Subject: Holiday hours\n\nWe are closed {{ today }}.\n")
    letters = Letters(folder)
    assert "holiday-hours" in letters.names()
    assert letters.render("holiday-hours", sample_context(config)).body == "We are closed November 23, 2026."


def test_a_syntax_error_names_the_file_and_the_line(config: Config, folder: Path) -> None:
    (folder / "constituent-update.email.j2").write_text("Subject: Update\n\nDear {{ constituent.name }},\n"
                                                        "{% if text %}\n{{ text }}\n")
    with pytest.raises(LetterError, match=r"constituent-update\.email\.j2 line 5: syntax error: "):
        Letters(folder).render("constituent-update", sample_context(config))


@pytest.mark.parametrize("expression", ["''.__class__.__mro__", "office.name.__class__", "office._data"])
def test_the_sandbox_keeps_templates_away_from_python(config: Config, folder: Path, expression: str) -> None:
    (folder / "x.email.j2").write_text(f"Subject: X\n\n{{{{ {expression} }}}}\n")
    with pytest.raises(LetterError, match=r"x\.email\.j2 line 3: not allowed: access to attribute"):
        Letters(folder).render("x", sample_context(config))


@pytest.mark.parametrize(("text", "problem"), [
    ("Dear Pat,\n\nHello.", 'the first line must be "Subject: …"'),
    ("Subject:   \n\nHello.", "the subject is empty"),
    ("Subject: Hi\nHello.", "followed by a blank line"),
    ("Subject: Hi\n\n{% if false %}x{% endif %}\n", "the letter has no text"),
    ("Subject: Hi\n\n{{ 1 / 0 }}", "line 3: ZeroDivisionError"),
    ("Subject: Hi\n\n{% include 'nowhere.email.j2' %}", "no template 'nowhere.email.j2' to include"),
])
def test_a_letter_that_is_not_subject_blank_line_text_is_an_error(config: Config, folder: Path, text: str,
                                                                   problem: str) -> None:
    (folder / "x.email.j2").write_text(text)
    with pytest.raises(LetterError) as raised:
        Letters(folder).render("x", sample_context(config))
    assert str(raised.value).startswith(f"letter {folder / 'x.email.j2'}")
    assert problem in str(raised.value)


def test_an_unknown_letter_lists_the_known_ones(config: Config) -> None:
    with pytest.raises(LetterError) as raised:
        Letters(None).render("ackowledgement", sample_context(config))
    assert str(raised.value) == f"no letter named 'ackowledgement' (known: {', '.join(PACKAGED)})"
    with pytest.raises(LetterError, match="no letter named '../hub'"):
        Letters(None).source("../hub")


def test_check_all_is_quiet_for_the_packaged_letters_and_names_a_broken_one(config: Config, folder: Path) -> None:
    assert Letters(None).check_all(sample_context(config)) == []
    assert Letters(folder).check_all(empty(sample_context(config))) == []
    (folder / "agency-followup.email.j2").write_text("Subject: Again\n\n{{ inquiry.sent_onn }}\n")
    (folder / "reminder.sms.j2").write_text("Your case {{ case.ref }} {% if %}")
    problems = Letters(folder).check_all(sample_context(config))
    assert len(problems) == 2
    assert problems[0].endswith("agency-followup.email.j2 line 3: undefined variable inquiry.sent_onn")
    assert "reminder.sms.j2 line 1: syntax error" in problems[1]


def test_check_all_renders_every_branch_not_only_the_samples(config: Config, folder: Path) -> None:
    # The sample case has its release on file, so only a check that flips the condition sees the other
    # branch; and one that empties the agency's control number sees the else of the inline condition.
    (folder / "agency-inquiry.email.j2").write_text(
        "Subject: Inquiry\n\n{% if release.on_file %}Signed {{ release.signed_on }}.\n"
        "{% else %}It will follow {{ release.signed_onn }}.\n{% endif %}")
    (folder / "agency-followup.email.j2").write_text(
        "Subject: Again\n\n{{ case.agency_control if case.agency_control else inquiry.sentt }}\n")
    context = sample_context(config)
    context["case"]["agency_control"] = "SSA-4821"
    assert Letters(folder).render("agency-inquiry", context).body == "Signed " + context["release"]["signed_on"] + "."
    problems = Letters(folder).check_all(context)
    assert [problem.rsplit(": ", 1)[-1] for problem in problems] == [
        "undefined variable inquiry.sentt", "undefined variable release.signed_onn"]


def test_check_all_is_quiet_for_every_state_of_the_packaged_letters(config: Config) -> None:
    assert Letters(None).check_all(sample_context(config)) == []
    assert Letters(None).check_all(empty(sample_context(config))) == []


def test_html_letters_are_escaped_and_text_letters_are_not(config: Config, folder: Path) -> None:
    (folder / "note.html.j2").write_text("<p>{{ constituent.name }}</p>")
    (folder / "note.email.j2").write_text("Subject: Note\n\n{{ constituent.name }}")
    context = sample_context(config)
    context["constituent"]["name"] = "Pat <Rivera> & Co"
    letters = Letters(folder)
    assert letters.render("note", context, channel="html").body == "<p>Pat &lt;Rivera&gt; &amp; Co</p>"
    assert letters.render("note", context).body == "Pat <Rivera> & Co"


def test_context_keys_match_the_sample_exactly(config: Config) -> None:
    context = sample_context(config)
    assert list(context) == list(CONTEXT_KEYS)
    for group, fields in CONTEXT_KEYS.items():
        if fields is None:
            assert isinstance(context[group], {"first_notice": bool, "status": list}.get(group, str)), group
        else:
            assert set(context[group]) == set(fields), group
    for item in context["case"]["identifiers"]:
        assert set(item) == {"label", "value"}
    for item in context["status"]:
        assert set(item) == {"ref", "step", "agency", "since", "days", "business_days", "write_by"}


def test_the_sample_uses_the_office_configuration(config: Config) -> None:
    context = sample_context(config)
    assert context["office"]["name"] == config.office.name and context["office"]["phone"] == config.office.phone
    assert context["caseworker"]["name"] == config.staff[0].name
    assert context["agency"]["key"] == config.agencies[0].key
    assert re.fullmatch(r"CW-26-00042-[A-Z2-9]{2}", context["case"]["ref"])
    assert context["today"] == "November 23, 2026"


def test_a_context_missing_a_key_is_a_bug_in_the_caller(config: Config) -> None:
    context = sample_context(config)
    del context["release"]["signed_on"]
    del context["today"]
    with pytest.raises(ValueError, match="letter context lacks release.signed_on, today"):
        Letters(None).render("acknowledgement", context)


# --- SMS letters ---

SMS_PACKAGED = ["acknowledgement", "agency-delay", "case-closed", "case-status", "constituent-checkin",
                "constituent-update", "satisfaction-survey", "sms-help"]
# A reply should mention it.
SMS_WITH_REF = ("acknowledgement", "agency-delay", "case-status", "constituent-checkin",
                "constituent-update")


def assert_texts_well(body: str) -> None:
    assert body.strip() and body == body.strip()
    for bad in ("None", "{{", "{%", "}}", " ,", " .", "()", "the the", ": .", "\n\n"):
        assert bad not in body, (bad, body)
    for line in body.splitlines():
        assert line == line.rstrip(), f"trailing space: {line!r}"
        assert not DOUBLE_SPACE.search(line), f"double space: {line!r}"


@pytest.mark.parametrize("name", SMS_PACKAGED)
def test_every_sms_letter_is_a_short_plain_gsm7_text(config: Config, name: str) -> None:
    for context in (sample_context(config, name), empty(sample_context(config, name))):
        letter = Letters(None).render(name, context, channel="sms")
        assert (letter.name, letter.channel, letter.subject) == (name, "sms", "")
        assert_texts_well(letter.body)
        assert gsm7_safe(letter.body), segments(letter.body).unsafe
        assert segments(letter.body).count <= 3, segments(letter.body)
        assert letter.body.startswith(f"{context['office']['name']}: ")  # who is texting
        assert (context["case"]["ref"] in letter.body) == (name in SMS_WITH_REF)
        assert ("Reply STOP to stop texts." in letter.body) == (name == "acknowledgement")


@pytest.mark.parametrize("name", SMS_PACKAGED)
def test_sms_letters_stay_within_three_segments_for_every_agency(config: Config, name: str) -> None:
    for agency in config.agencies:
        context = sample_context(config, name)
        context["agency"].update(key=agency.key, name=agency.name)
        context["links"]["survey_url"] = "https://doe.example.gov/survey"
        body = Letters(None).render(name, context, channel="sms").body
        assert gsm7_safe(body) and segments(body).count <= 3, (agency.name, segments(body))


def test_the_sms_acknowledgement_gives_the_reference_and_the_way_back(config: Config) -> None:
    context = sample_context(config, "acknowledgement")
    body = Letters(None).render("acknowledgement", context, channel="sms").body
    for needed in (f"your case reference is {context['case']['ref']}", "Maria Lopez, your caseworker, will be in touch",
                   "reply to this number or call (202) 555-0100"):
        assert needed in body, needed
    assert body.endswith("\nReply STOP to stop texts.")
    body = Letters(None).render("acknowledgement", empty(context), channel="sms").body
    assert "A caseworker will be in touch" in body and "call" not in body


@pytest.mark.parametrize("name", ["constituent-update", "case-closed"])
def test_sms_updates_carry_the_caseworkers_words(config: Config, name: str) -> None:
    context = sample_context(config, name)
    body = Letters(None).render(name, context, channel="sms").body
    assert context["text"] in body and body.endswith("\n- Maria Lopez")


def test_the_sms_survey_sends_the_link_when_there_is_one(config: Config) -> None:
    context = sample_context(config, "satisfaction-survey")
    context["links"]["survey_url"] = "https://doe.example.gov/survey"
    assert "https://doe.example.gov/survey" in Letters(None).render("satisfaction-survey", context, "sms").body
    context["links"]["survey_url"] = ""
    body = Letters(None).render("satisfaction-survey", context, "sms").body
    assert "http" not in body and "reply" in body


def test_the_sms_help_gives_the_phone_the_hours_and_stop(config: Config) -> None:
    body = Letters(None).render("sms-help", sample_context(config), "sms").body
    for needed in ("Office of Representative Jane Doe: ", "call (202) 555-0100",
                   "Office hours: Monday to Friday, 9 a.m. to 5 p.m. Eastern", "Text STOP to end our texts"):
        assert needed in body, needed


def test_sms_letters_are_not_email_letters(config: Config) -> None:
    assert "sms-help" not in Letters(None).names()
    with pytest.raises(LetterError, match="no letter named 'sms-help'"):
        Letters(None).render("sms-help", sample_context(config))


def test_check_all_flags_an_office_text_over_the_limit(config: Config, folder: Path) -> None:
    context = sample_context(config)
    (folder / "acknowledgement.sms.j2").write_text("{{ office.name }}: " + "We have your message. " * 22)
    (folder / "reminder.sms.j2").write_text("{{ office.name }}: it\u2019s still open. " + "x" * 140)
    letters = Letters(folder)
    ack, reminder = folder / "acknowledgement.sms.j2", folder / "reminder.sms.j2"
    assert letters.check_all(context) == [
        f"letter {ack}: 4 SMS segments (GSM-7, 518 characters), the limit is 3"]  # the UCS-2 reminder fits in 3
    problems = letters.check_all(context, sms_max_segments=2)
    assert f"letter {reminder}: 3 SMS segments (UCS-2, 192 characters), the limit is 2; UCS-2 because of '\u2019'" \
        in problems
    assert letters.check_all(context, sms_max_segments=4) == []


# --- The answer to STATUS ---

STEPS = ("asked-agency", "agency-answered", "waiting-release", "waiting-on-you", "reviewing")


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_status_answer_words_every_step_and_three_cases_fit_a_text(config: Config, language: str) -> None:
    context = sample_context(config, "case-status")
    [sample] = context["status"]
    longest = max((agency.name for agency in config.agencies), key=len)
    items = [{**sample, "ref": f"CW-26-0000{n}-AB", "step": step, "agency": longest, "since": "September 30",
              "write_by": "December 31" if n % 2 else ""} for n, step in enumerate(STEPS)]
    seen = set()
    for count in (1, 3):
        for start in range(len(items)):
            status = (items * 2)[start:start + count]
            body = Letters(None).render("case-status", {**context, "status": status, "language": language},
                                        "sms").body
            cost = segments(body)
            assert cost.count <= 3 and cost.encoding == "GSM-7", body
            assert all(item["ref"] in body for item in status) and ("1. " in body) is (count > 1)
            seen.add(body.split(":", 2)[2].split(";")[0])
            letter = Letters(None).render("case-status", {**context, "status": status, "language": language})
            assert_reads_well(letter.subject, letter.body)
    assert len(seen) >= len(STEPS), "each step has its own words"


def test_the_status_answer_without_an_open_case_says_so_in_either_language(config: Config) -> None:
    context = {**sample_context(config, "case-status"), "status": []}
    assert "no open case" in Letters(None).render("case-status", context, "sms").body
    spanish = Letters(None).render("case-status", {**context, "language": "es"}, "sms").body
    assert "ningun caso abierto" in spanish and segments(spanish).count == 1
    assert "ningún caso abierto" in Letters(None).render("case-status", {**context, "language": "es"}).body

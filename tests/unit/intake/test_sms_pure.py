"""The pure parts of the SMS line: keywords, phone numbers and their time zones, quiet hours, the text
record, routing of keyword texts, the [sms] configuration, and what log lines may say of a number."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.core import config
from hub.core.errors import ConfigError, QuarantineError
from hub.core.phones import normalise, zone_of
from hub.core.redact import addresses
from hub.delivery.quiet_hours import quiet_until
from hub.delivery.twilio import Media
from hub.intake.identify import Identity, role_of
from hub.intake.keywords import keyword, status_word
from hub.intake.message import InboundMessage
from hub.intake.parse.sms import parse_sms
from hub.intake.route import AnswerStatus, Notify, OptIn, OptOut, QueueLetter, route
from hub.intake.screen import OK, screen
from hub.intake.thread import NO_CASE, CaseFacts, CaseMatch
from hub.run.office import init_office
from hub.sources.sms_record import sms_record

SENT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
PAT = "+19195550142"
SMS_TABLE = '[sms]\naccount_sid = "AC0123456789abcdef0123456789abcdef"\nnumber = "(555) 555-0100"\n'


@pytest.mark.parametrize("text, expected", [
    ("STOP", "opt-out"), (" stop ", "opt-out"), ("Stop.", "opt-out"), ("unsubscribe", "opt-out"),
    ("STOPALL", "opt-out"), ("cancel", "opt-out"), ("End", "opt-out"), ("QUIT!", "opt-out"),
    ("START", "opt-in"), ("unstop", "opt-in"), ("help", "help"), ("HELP!", "help"),
    ("please stop by the office", None), ("stop it", None), ("I need help", None), ("", None),
])
def test_a_keyword_is_the_whole_text(text: str, expected: str | None) -> None:
    assert keyword(text) == expected


@pytest.mark.parametrize("written, expected", [
    ("(919) 555-0142", PAT), ("919.555.0142", PAT), ("+1 919 555 0142", PAT), ("1-919-555-0142", PAT),
    ("+44 20 7946 0958", "+442079460958"), ("12345", None), ("OFFICE", None), ("", None),
])
def test_numbers_are_written_one_way(written: str, expected: str | None) -> None:
    assert normalise(written) == expected


def test_a_numbers_time_zone_comes_from_its_area_code() -> None:
    assert zone_of(PAT, "UTC") == "America/New_York"
    assert zone_of("+12065550199", "UTC") == "America/Los_Angeles"
    assert zone_of("+15555550100", "America/Chicago") == "America/Chicago"  # 555: no real area, the default


@pytest.mark.parametrize("local, expected", [
    ("2026-11-23T03:00", "2026-11-23T09:00"), ("2026-11-23T08:59", "2026-11-23T09:00"),
    ("2026-11-23T09:00", None), ("2026-11-23T19:59", None), ("2026-11-23T20:00", "2026-11-24T09:00"),
    ("2026-11-23T23:30", "2026-11-24T09:00"),
])
def test_quiet_hours_cross_midnight_in_the_given_zone(local: str, expected: str | None) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    now = datetime.fromisoformat(local).replace(tzinfo=zone)
    until = quiet_until(now, "America/Los_Angeles", time(20), time(9))
    assert until == (datetime.fromisoformat(expected).replace(tzinfo=zone) if expected else None)


def test_no_quiet_hours_when_start_and_end_are_equal() -> None:
    assert quiet_until(SENT, "UTC", time(9), time(9)) is None


def test_a_text_record_reads_back_whole() -> None:
    raw = sms_record("MM" + "a" * 32, "+1 919 555 0142", "+15555550100", " Here it is ", SENT,
                     [Media("ME1", "image/jpeg", b"\xff\xd8photo"), Media("ME2", "image/png", None, "not downloaded")])
    message = parse_sms(raw, "sms:twilio", 1000)
    assert (message.channel, message.sender, message.recipients) == ("sms", PAT, ("+15555550100",))
    assert message.dedupe_key == "twilio:MM" + "a" * 32 and message.new_text == "Here it is"
    assert message.date == SENT and message.raw == raw
    photo, missing = message.attachments
    assert photo.data == b"\xff\xd8photo" and photo.content_type == "image/jpeg"
    assert missing.data is None and "not downloaded" in missing.filename
    assert parse_sms(raw, "sms:twilio", 4).attachments[0].oversized  # over the attachment cap: kept in raw only


@pytest.mark.parametrize("raw, problem", [
    (b"not json", "not a text message record"),
    (json.dumps({"sid": "SM1"}).encode(), "not a text message record"),
    (json.dumps({"sid": "XX1", "from": PAT, "to": PAT, "body": ""}).encode(), "not a Twilio Message SID"),
])
def test_a_broken_text_record_is_for_quarantine(raw: bytes, problem: str) -> None:
    with pytest.raises(QuarantineError, match=problem):
        parse_sms(raw, "sms:twilio", 1000)


def test_a_short_code_is_a_robot_and_a_person_is_not() -> None:
    robot = parse_sms(sms_record("SM1", "22395", "+15555550100", "Your code", SENT, []), "sms:twilio", 10)
    person = parse_sms(sms_record("SM2", PAT, "+15555550100", "STOP", SENT, []), "sms:twilio", 10)
    assert screen(robot, "doe.example.gov").verdict == "auto-reply"
    assert screen(person, "doe.example.gov") == OK


@pytest.fixture(scope="module")
def sms_config(tmp_path_factory: pytest.TempPathFactory) -> config.Config:
    path = init_office(tmp_path_factory.mktemp("office") / "office")
    path.write_text(path.read_text().replace("\n[[staff]]", f"\n{SMS_TABLE}\n[[staff]]", 1))
    return config.load(path)


def test_the_sms_table_loads_with_its_defaults(sms_config: config.Config) -> None:
    sms = sms_config.sms
    assert sms is not None and sms.number == "+15555550100" and sms.poll and sms.max_segments == 3
    assert (sms.quiet_start, sms.quiet_end) == (time(20), time(9))
    assert sms.webhook_listen == "" and sms_config.web is None


@pytest.mark.parametrize("line, problem", [
    ('account_sid = "AC123"', "[sms] account_sid: expected AC followed by 32"),
    ('number = "call us"', "[sms] number: not a phone number"),
    ('quiet_start = "8pm"', "[sms] quiet_start: expected a time of day"),
    ('max_segments = 0', "[sms] max_segments: must be a positive number"),
    ('webhook_listen = "8025"', "[sms] webhook_listen: expected HOST:PORT"),
    ('api_base = "localhost:8000"', "[sms] api_base: expected http(s)://"),
])
def test_a_bad_sms_key_is_one_line_naming_it(tmp_path: Path, line: str, problem: str) -> None:
    path = init_office(tmp_path / "office")
    key = line.split(" = ")[0]
    table = "\n".join(row for row in SMS_TABLE.splitlines() if not row.startswith(key + " ")) + f"\n{line}\n"
    path.write_text(path.read_text().replace("\n[[staff]]", f"\n{table}\n[[staff]]", 1))
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_a_number_is_a_constituent_unless_it_is_the_office(sms_config: config.Config) -> None:
    assert role_of(PAT, sms_config).role == "constituent"
    assert role_of("+15555550100", sms_config).role == "office"


def _text(body: str) -> InboundMessage:
    return parse_sms(sms_record("SM9", PAT, "+15555550100", body, SENT, []), "sms:twilio", 10)


CASE = CaseMatch(CaseFacts(7, "CW-26-00007-AB", None, None, constituent_phone=PAT, contact_channel="sms"), "phone")


def test_stop_on_a_case_opts_out_and_tells_the_caseworker_there_is_no_email(sms_config: config.Config) -> None:
    decision = route(OK, Identity("constituent"), CASE, _text("Stop"), sms_config)
    assert decision.disposition == "case" and decision.case_id == 7
    opt_out, notice = decision.effects
    assert isinstance(opt_out, OptOut) and isinstance(notice, Notify)
    assert notice.notice == "The constituent texted STOP" and "no email address" in notice.text


def test_keywords_never_open_a_case_or_acknowledge(sms_config: config.Config) -> None:
    for body, effect in (("STOP", OptOut), ("START", OptIn), ("HELP", QueueLetter)):
        decision = route(OK, Identity("constituent"), NO_CASE, _text(body), sms_config)
        assert decision.disposition == "triage" and [type(e) for e in decision.effects] == [effect]
    help_letter = route(OK, Identity("constituent"), CASE, _text("help"), sms_config).effects
    assert help_letter == (QueueLetter("sms-help", "sender", "auto-replied"),)


def test_a_text_from_another_number_with_the_reference_goes_to_triage(sms_config: config.Config) -> None:
    other = parse_sms(sms_record("SM8", "+12065550199", "+15555550100", "CW-26-00007-AB", SENT, []), "sms:t", 10)
    decision = route(OK, Identity("constituent"), CASE, other, sms_config)
    assert decision.disposition == "triage" and "not a party" in decision.reason


@pytest.mark.parametrize("text, expected", [
    ("STATUS", "en"), (" status ", "en"), ("Status?", "en"), ("ESTADO", "es"), ("estado.", "es"),
    ("what is the status", None), ("status of my case", None), ("estado de mi caso", None), ("", None),
])
def test_a_status_request_is_the_whole_text(text: str, expected: str | None) -> None:
    assert status_word(text) == expected
    assert keyword(text) is None, "no carrier keyword"


def test_status_answers_the_constituents_own_cases_and_never_opens_or_reopens_one(
        sms_config: config.Config) -> None:
    several = CaseMatch(CASE.facts, "constituent", ("CW-26-00005-CD",))
    decision = route(OK, Identity("constituent"), several, _text("Estado"), sms_config)
    assert (decision.disposition, decision.case_id) == ("case", 7)
    assert decision.effects == (AnswerStatus("es", ("CW-26-00007-AB", "CW-26-00005-CD")),)
    none = route(OK, Identity("constituent"), NO_CASE, _text("status"), sms_config)
    assert (none.disposition, none.effects) == ("triage", (AnswerStatus("en"),))
    assert CASE.facts is not None
    closed = CaseMatch(replace(CASE.facts, status="closed", closed_at=SENT), "constituent")
    answered = route(OK, Identity("constituent"), closed, _text("STATUS"), sms_config, SENT)
    assert answered.effects == (AnswerStatus("en"),), "no Reopen: asking is not writing on the case"


def test_log_lines_keep_two_digits_of_a_number() -> None:
    assert addresses(f"21610 for {PAT}") == "21610 for +…42"

"""The letter compose writes directly is, byte for byte, the one the stdlib's EmailMessage writes."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import policy

import pytest

from hub.core.config import Config, load
from hub.core.refs import References
from hub.letters.compose import (
    _MAX_LINE,
    Attachment,
    Outgoing,
    _compose_with_stdlib,
    _folded,
    compose,
    subject_line,
    written_as_is,
    written_directly,
)
from hub.run.office import init_office
from tests.helpers import START

LETTERS = 800

WORDS = ["Dear", "Pat,", "thank", "you", "for", "your", "message.", "We", "wrote", "to", "the", "agency", "today.",
         "claim", "(number", "2026-123)", "\"urgent\"", "a,b", "café", "naïve", "Müller", "東京都", "申請", "📮", "✉️",
         "=?utf-8?q?x?=", "100%", "<b>", "'s", "."]
LINE_LENGTHS = (0, 1, 40, 72, 76, 77, 78, 79, 80, 120, 997, 998, 999, 1200)
ODD_LINES = ["From here on we write.", "From ", ".", "..", ". leading dot", "trailing spaces   ", "\ttabbed\tline",
             "a line\rwith a lone CR", "crlf\r\nline", "form\x0cfeed", "vertical\x0btab", "next\x85line",
             "line\u2028separator", "nul\x00char", "\x1cgroup", "   ", "", "=3D already", "=", "ends with =",
             "ends with space ", "ends with tab\t"]
SUBJECTS = ["We received your message", "Re: Your passport", "Question about \"the form\", (again)",
            "Pension – Müller", "签证申请", "Help 📮", "  spaced   out\tsubject ", "=?utf-8?q?caf=C3=A9?=",
            "A subject long enough that the stdlib has to fold it onto a second line of its own, and more",
            "x" * 90, "Semicolon; colon: at@sign <angle> [square]", ""]
RECIPIENTS = ["pat@example.com", "Pat.O'Brien+claims@mail.example.org", "Pat O'Brien <pat@example.com>",
              '"Doe, Jane" <jane@example.com>', "Zoë Müller <zoe@example.de>", "pat@exämple.com",
              "pat@example.com (Pat)", "x" * 70 + "@example.com", "a..b@example.com", "=?utf-8?q?a?=@example.com",
              "maria.lopez@doe.example.gov"] + [
                  "p" * (length - 12) + "@example.com" for length in (73, 74, 75, 76, 77, 78)]  # "To: " and 74: folded
MESSAGE_IDS = ["<plain@example.com>", "<a.b.c@d.e.f>", "<id with space@example.com>", "<" + "x" * 80 + "@example.com>",
               "<" + "m" * 52 + "@example.com>", "<" + "m" * 53 + "@example.com>",
               "<no-at-sign>", "<pat@example.com> extra", "<é@example.com>"]
ZONES = (None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load(init_office(tmp_path_factory.mktemp("office")))


@pytest.fixture(scope="module")
def refs(config: Config) -> References:
    return References(config.office.reference_prefix, config.office.secret)


def line(chance: random.Random) -> str:
    if chance.random() < 0.25:
        return chance.choice(ODD_LINES)
    length = chance.choice(LINE_LENGTHS)
    words = WORDS[:13] if chance.random() < 0.5 else WORDS  # about half the lines plain ASCII
    text = ""
    while len(text) < length:
        text += chance.choice(words) + " "
    return text[:length]


def body(chance: random.Random) -> str:
    lines = [line(chance) for _ in range(chance.choice((0, 1, 2, 5, 10, 11, 30)))]
    ending = chance.choice(("\n", "\r\n", "\r", "", "\n\n   "))
    return ending.join(lines) + chance.choice(("", ending, " "))


def ascii_words(chance: random.Random) -> str:
    """Words of any length up to a line's, for the folding of a long header at each column."""
    return " ".join("w" * chance.randint(1, chance.choice((12, 80))) for _ in range(chance.randint(1, 30)))


def message_ids(chance: random.Random, count: int) -> str:
    return " ".join(f"<m{chance.randrange(10**9)}.{chance.choice(('a', 'b.c'))}@example.com>" for _ in range(count))


def generated(chance: random.Random, refs: References) -> Outgoing:
    case_ref = str(refs.make(26, chance.randrange(1, 99999))) if chance.random() < 0.8 else None
    replying = chance.random() < 0.5
    to_staff = chance.random() < 0.3
    return Outgoing(
        recipient=chance.choice(RECIPIENTS), subject=chance.choice(SUBJECTS + [line(chance), ascii_words(chance)]),
        body=body(chance),
        message_id=(refs.message_id("doe.example.gov", case_ref) if chance.random() < 0.7
                    else chance.choice(MESSAGE_IDS)),
        case_ref=case_ref,
        in_reply_to=(message_ids(chance, 1) if chance.random() < 0.8 else chance.choice(MESSAGE_IDS)) if replying
        else None,
        references=message_ids(chance, chance.choice((0, 1, 2, 8))) if replying else None,
        automatic=chance.choice(("", "auto-replied", "auto-generated")),
        agency_control=chance.choice((None, "2026-CI-01234", "Réf. 7/2026")),
        to_staff=to_staff,
        thread_topic=(f"[{case_ref}] {chance.choice(SUBJECTS)}".strip() if to_staff and case_ref else ""),
        thread_index="AdqW" + "x" * chance.choice((20, 28, 90)) if to_staff and case_ref else "")


def moment(chance: random.Random) -> datetime:
    at = START + timedelta(seconds=chance.randrange(-10**8, 10**8), microseconds=chance.randrange(10**6))
    return at.replace(tzinfo=chance.choice(ZONES))


def outcome(how: object, *arguments: object) -> bytes | str:
    """The bytes composed, or the error composing raised (the stdlib refuses some values)."""
    try:
        return how(*arguments)  # type: ignore[operator, no-any-return]
    except Exception as error:  # noqa: BLE001 - the same refusal is what is compared
        return f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("name", ["the office as set up", "an office with a long name in another script"])
def test_generated_letters_come_out_byte_for_byte_as_the_stdlib_writes_them(config: Config, refs: References,
                                                                          name: str) -> None:
    if name != "the office as set up":
        config = replace(config, office=replace(config.office, name="Oficina de la Representante Zoë Müller-García"))
    chance = random.Random(20261206)
    written_fast = 0
    for number in range(LETTERS):
        letter, now = generated(chance, refs), moment(chance)
        expected = outcome(_compose_with_stdlib, letter, config, refs, now)
        assert outcome(compose, letter, config, refs, now) == expected, f"letter {number}: {letter!r} at {now!r}"
        written_fast += written_directly(letter)
    assert written_fast == LETTERS


@pytest.mark.parametrize("body", [
    "ée" * 19 + "a",  # 77 bytes in 40 characters
    "é" * 39, "é" * 39 + "a", "a" * 78, "a" * 79, "a" * 998, "a" * 999, "é" * 499, "é" * 500,
    "ééaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa üüüüüü",  # as long in QP as base64
    "\n".join(["a" * 100] + ["é" * 30] * 10), "\n".join(["é" * 30] * 10 + ["a" * 100]), "", " \n\t ", "📮" * 30])
def test_a_body_at_the_edge_of_an_encoding_comes_out_as_the_stdlib_writes_it(config: Config, refs: References,
                                                                            body: str) -> None:
    letter = Outgoing("pat@example.com", "Edges", body, "<edge@example.com>", None)
    assert compose(letter, config, refs, START) == _compose_with_stdlib(letter, config, refs, START)


def test_the_encodings_the_stdlib_chooses_are_all_among_the_generated_letters(refs: References,
                                                                              config: Config) -> None:
    chance = random.Random(20261206)
    seen = set()
    for _ in range(LETTERS):
        raw = outcome(_compose_with_stdlib, generated(chance, refs), config, refs, moment(chance))
        if isinstance(raw, bytes):
            seen.add(raw.split(b"Content-Transfer-Encoding: ", 1)[1].split(b"\r\n", 1)[0])
    assert seen == {b"7bit", b"8bit", b"quoted-printable", b"base64"}


def test_an_everyday_letter_is_written_directly_and_asks_the_stdlib_only_for_headers_that_repeat(
        config: Config, refs: References) -> None:
    _folded.cache_clear()
    for number in range(50):
        ref = str(refs.make(26, number + 1))
        acknowledgement = Outgoing(
            recipient=f"person{number}@example.com", subject=f"Problem {number}",
            body=f"Dear Person {number},\n\nWe received your message about your claim.\n\nThe office",
            message_id=refs.message_id("doe.example.gov", ref), case_ref=ref,
            in_reply_to=f"<delivery-{number}@example.com>", automatic="auto-replied")
        notice = replace(acknowledgement, recipient="maria.lopez@doe.example.gov", in_reply_to=None, automatic="",
                         to_staff=True, thread_topic=f"[{ref}] Problem {number}", thread_index="AdqWabcdefghij==",
                         body=f"New case {ref}\n\nFrom: Person {number}\nSubject: Problem {number}")
        for letter in (acknowledgement, notice):
            assert written_directly(letter)
            assert written_as_is("Subject", subject_line(letter)) and written_as_is("To", letter.recipient)
            assert compose(letter, config, refs, START) == _compose_with_stdlib(letter, config, refs, START)
    # From, Date and the three automatic headers: the rest was written as it is, without the stdlib's parser.
    assert _folded.cache_info().currsize == 5


def test_a_letter_with_files_or_html_is_left_to_the_stdlib(refs: References) -> None:
    letter = Outgoing("pat@example.com", "Form", "Here it is.", "<a@example.com>", None)
    assert written_directly(letter)
    assert not written_directly(replace(letter, attachments=(Attachment("a.txt", "text/plain", b"a"),)))


def test_the_line_length_is_the_stdlib_policies() -> None:
    assert policy.default.max_line_length == policy.SMTP.max_line_length == _MAX_LINE

"""The release signed by link: each answer the agency needs is checked as the constituent may type it and shown
back masked; the page's language; the hash the PDF prints changes with anything signed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from hub.letters.release_form import check_answer, language, masked
from hub.letters.release_pdf import SignedForm, content_hash

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(("ask", "typed", "kept"), [
    ("birth_date", "1958-04-27", "1958-04-27"),  # a date input's value
    ("birth_date", "4/27/1958", "1958-04-27"),
    ("birth_date", " 04-27-1958 ", "1958-04-27"),
    ("ssn_last4", "6789", "6789"),
    ("ssn_last4", "67 89", "6789"),
    ("claim_number", "12-345-678", "12345678"),
    ("a_number", "a123456789", "A123456789"),
    ("a_number", "12345678", "A12345678"),
])
def test_answers_are_read_as_typed(ask: str, typed: str, kept: str) -> None:
    assert check_answer(ask, typed, TODAY, "en") == (kept, "")


@pytest.mark.parametrize(("ask", "typed", "problem"), [
    ("birth_date", "", "Date of birth: this is required."),
    ("birth_date", "02/30/1958", "Date of birth: enter a real date in the past"),
    ("birth_date", "2027-01-01", "Date of birth: enter a real date in the past"),
    ("birth_date", "1850-01-01", "Date of birth: enter a real date in the past"),
    ("ssn_last4", "123-45-6789", "enter exactly 4 digits"),
    ("claim_number", "1234", "enter 8 or 9 digits"),
    ("a_number", "B12345678", "enter A followed by 8 or 9 digits"),
])
def test_mistakes_are_named_with_their_field(ask: str, typed: str, problem: str) -> None:
    value, said = check_answer(ask, typed, TODAY, "en")
    assert value == "" and problem in said


def test_mistakes_in_spanish() -> None:
    assert check_answer("ssn_last4", "12", TODAY, "es")[1] == \
        "Últimos cuatro dígitos de su número de Seguro Social: escriba exactamente 4 dígitos."


def test_answers_are_shown_back_masked() -> None:
    assert masked("birth_date", "1958-04-27") == "••/••/1958"
    assert masked("ssn_last4", "6789") == "•••-••-••89"
    assert masked("a_number", "A123456789") == "A•••••••89"
    assert masked("claim_number", "12345678") == "••••••78"


@pytest.mark.parametrize(("asked", "accept", "expected"), [
    ("es", "", "es"), ("en", "es-MX,es;q=0.9", "en"), (None, "es-MX,es;q=0.9", "es"), (None, "en-US,es", "en"),
    ("fr", "", "en"), (None, "", "en"),
])
def test_the_page_speaks_the_language_asked_for_else_the_browsers(asked: str | None, accept: str,
                                                                 expected: str) -> None:
    assert language(asked, accept) == expected


def test_the_hash_changes_with_anything_signed() -> None:
    form = SignedForm(office="Office", member="Jane Doe", agency="SSA", case_ref="CW-26-00001-W4",
                      name_on_file="Pat Example", address="", email="pat@example.com", phone="",
                      full_name="Pat Example", answers=(("birth_date", "1958-04-27"),), language="en",
                      typed_signature="Pat Example", drawn_sha256="")
    first = content_hash(form)
    assert content_hash(form) == first and len(first) == 64
    assert content_hash(replace(form, answers=(("birth_date", "1958-04-28"),))) != first
    assert content_hash(replace(form, language="es")) != first  # the statement agreed to is another
    assert content_hash(replace(form, typed_signature="", drawn_sha256="0" * 64)) != first

"""No list of guesses threads a message: every reference token a message carries is judged together,
and a sender whose references keep failing is held for a while (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Case, Message
from hub.core.refs import CHECK_ALPHABET, Reference
from tests.helpers import OFFICE_ADDRESS, email, feed

pytestmark = pytest.mark.integration
PAT = "Pat Example <pat@example.com>"


def open_case(hub: Hub, sender: str = PAT) -> Reference:
    outcome = feed(hub, email(sender=sender, subject="My pension is late"))
    reference = hub.refs.parse(outcome.case_ref or "")
    assert outcome.fate == "new-case" and reference is not None
    return reference


def on_case(hub: Hub, ref: Reference) -> int:
    with hub.sessions() as session:
        return len(session.scalars(select(Message.id).join(Case, Case.id == Message.case_id)
                                   .where(Case.ref == str(ref))).all())


def every_code(ref: Reference) -> list[str]:
    return [f"{ref.prefix}-{ref.year:02d}-{ref.sequence:05d}-{a}{b}" for a in CHECK_ALPHABET for b in CHECK_ALPHABET]


def test_a_message_listing_every_check_code_of_a_case_is_held(hub: Hub) -> None:
    ref = open_case(hub)
    guesses = every_code(ref)
    assert str(ref) in guesses and len(guesses) == 961

    outcome = feed(hub, email(sender="pat@example.com", subject="My case", body="\n".join(guesses)))

    assert outcome.fate == "triage"
    assert outcome.reason.startswith("reference check failed:") and "and 957 more does not verify" in outcome.reason
    assert on_case(hub, ref) == 1


def test_a_reference_that_fails_beside_one_that_verifies_is_held(hub: Hub) -> None:
    ref = open_case(hub)
    wrong = every_code(ref)[0] if every_code(ref)[0] != str(ref) else every_code(ref)[1]

    outcome = feed(hub, email(sender="pat@example.com", subject=f"Re: [{ref}] my case", body=f"also {wrong}"))

    assert (outcome.fate, outcome.reason) == ("triage", f"reference check failed: {wrong} does not verify")


def test_references_to_two_cases_in_one_message_are_held(hub: Hub) -> None:
    first, second = open_case(hub), open_case(hub, "Pat Example <pat@example.com>")

    outcome = feed(hub, email(sender="pat@example.com", subject=f"About {first} and {second}"))

    assert outcome.fate == "triage"
    assert outcome.reason == f"references to 2 different cases ({first}, {second})"


def test_a_forged_long_code_in_the_plus_address_is_held(hub: Hub) -> None:
    ref = open_case(hub)
    code = hub.refs.token_code(ref)
    forged = ("a" if code[0] != "a" else "b") + code[1:]

    outcome = feed(hub, email(sender="pat@example.com", to=f"casework+{ref.compact}.{forged}@doe.example.gov",
                              subject=f"Re: [{ref}] My pension is late"))

    assert outcome.fate == "triage" and "a case token that does not verify" in outcome.reason
    assert on_case(hub, ref) == 1


def test_our_long_code_decides_over_quoted_references_to_other_cases(hub: Hub) -> None:
    """A reply to a notice listing the constituent's other cases quotes their references; the plus-address
    and In-Reply-To of our own mail carry the long code, and they decide."""
    ref, other = open_case(hub), open_case(hub)
    reply = email(sender="pat@example.com", to=hub.refs.plus_address(OFFICE_ADDRESS, ref),
                  subject="Re: My pension is late", body=f"Thanks.\n> the others: {other}, CW-26-99999-ZZ",
                  headers={"In-Reply-To": hub.refs.message_id("doe.example.gov", ref)})

    outcome = feed(hub, reply)

    assert (outcome.fate, outcome.case_ref) == ("case", str(ref))


def test_replies_to_mail_sent_before_the_long_codes_still_thread(hub: Hub) -> None:
    ref = open_case(hub)
    reply = email(sender="pat@example.com", to=f"casework+{ref.compact}@doe.example.gov", subject="Re: my case",
                  headers={"In-Reply-To": f"<hub.{ref.compact}.0123456789abcdef@doe.example.gov>"})

    outcome = feed(hub, reply)

    assert (outcome.fate, outcome.case_ref, outcome.reason) == ("case", str(ref), "threaded by plus-address")


def test_a_sender_whose_references_keep_failing_is_held_for_a_day(hub: Hub) -> None:
    ref = open_case(hub)
    guesses = [code for code in every_code(ref) if code != str(ref)]
    for guess in guesses[:3]:
        assert feed(hub, email(sender="pat@example.com", subject=f"Re: [{guess}]")).fate == "triage"

    held = feed(hub, email(sender="pat@example.com", subject=f"Re: [{ref}] my pension"))
    by_long_code = feed(hub, email(sender="pat@example.com", to=hub.refs.plus_address(OFFICE_ADDRESS, ref),
                                   subject="Re: my pension, again"))
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=1, minutes=1))
    later = feed(hub, email(sender="pat@example.com", subject=f"Re: [{ref}] my pension, a day later"))

    assert held.fate == "triage" and "reference check failed on 3 messages from this sender" in held.reason
    assert (by_long_code.fate, by_long_code.case_ref) == ("case", str(ref)), "our own tokens are still trusted"
    assert (later.fate, later.case_ref) == ("case", str(ref))

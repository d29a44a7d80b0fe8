"""A caseworker's text is signed once: her own sign-off is found, and the hub's signature only added without one."""

from __future__ import annotations

import pytest

from hub.core.config_values import Staff
from hub.letters.signature import relay_body, sign_off_start, without_sign_off
from hub.letters.sms_relay import sms_relay

SAM = Staff(name="Sam Lee", email="sam.lee@doe.example.gov", title="Caseworker", short="sammy")
OFFICE = "Office of Representative Jane Doe"


@pytest.mark.parametrize("closing", ["Best,\nSam", "Thanks, Sam Lee", "Sam", "- Sam", "Kind regards,\n\nSam Lee\n"
                                     "Caseworker\n(202) 555-0100", "Thanks so much!\nsammy", "Best wishes, Sam."])
def test_her_own_sign_off_is_found_and_nothing_is_added(closing: str) -> None:
    text = f"Your new card is on its way.\n\n{closing}"
    assert sign_off_start(text, SAM) is not None
    assert relay_body(text, SAM, OFFICE) == text
    assert without_sign_off(text, SAM) == "Your new card is on its way."


@pytest.mark.parametrize("text", ["Sam will call you tomorrow.", "Please call Sam Lee\nat the office.",
                                  "Call me anytime\nThanks", "Samuel\nsent this", "Best,\nMaria"])
def test_a_text_she_did_not_sign_is_signed_by_the_hub(text: str) -> None:
    assert sign_off_start(text, SAM) is None
    assert relay_body(text, SAM, OFFICE) == f"{text}\n\nSam Lee\nCaseworker\n{OFFICE}"
    assert without_sign_off(text, SAM) == text


def test_a_closing_line_alone_stays_when_it_is_not_a_closing() -> None:
    assert without_sign_off("We mailed it.\nCall me anytime\nSam", SAM) == "We mailed it.\nCall me anytime"


def test_without_a_staff_member_the_office_signs() -> None:
    assert relay_body("Hello", None, OFFICE) == f"Hello\n\n{OFFICE}"


def test_a_text_message_she_signed_carries_the_office_alone() -> None:
    assert sms_relay("Your card is on its way.\nThanks, Sam", SAM, OFFICE, 3) == (
        f"Your card is on its way.\nThanks, Sam\n- {OFFICE}", "")
    assert sms_relay("Your card is on its way.", SAM, OFFICE, 3)[0].endswith(f"\n- Sam, {OFFICE}")

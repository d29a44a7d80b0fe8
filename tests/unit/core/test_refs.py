"""Case references: made, found in every form, verified, redacted."""

from __future__ import annotations

import pytest

from hub.core.redact import addresses
from hub.core.refs import References, is_our_message_id, token_key, token_keys

refs = References("CW", "a-secret-of-sufficient-length")
REF = refs.make(2026, 42)


def test_format_and_round_trip() -> None:
    assert str(REF).startswith("CW-26-00042-") and len(REF.check) == 2
    assert refs.parse(str(REF)) == REF
    assert refs.parse(f"[{str(REF).lower()}]") == REF
    assert refs.make(26, 123456).sequence == 123456
    assert refs.parse(str(refs.make(26, 123456))) == refs.make(26, 123456)


def test_check_code_depends_on_the_secret() -> None:
    other = References("CW", "another-secret-of-sufficient-length")
    codes = {refs.make(26, n).check for n in range(1, 200)}
    assert len(codes) > 50, "check codes spread over the alphabet"
    assert sum(other.make(26, n).check == refs.make(26, n).check for n in range(1, 200)) < 20
    assert other.parse(str(REF)) is None


@pytest.mark.parametrize("text", [
    "Re: [{ref}] my passport", "RE: FW: {ref}", "case {lower} please", "ref: {nodash}",
    "Case #{ref}.", "({ref})", "[{ref}]:",
])
def test_found_in_text_in_every_usual_form(text: str) -> None:
    written = text.format(ref=str(REF), lower=str(REF).lower(), nodash=str(REF).replace("-", ""))
    assert refs.find_in_text(written) == REF


WRONG = "ZZ" if REF.check != "ZZ" else "YY"


@pytest.mark.parametrize("text", [
    "CW-26-00042", "00042", "case 42", f"CW-26-00042-{WRONG}", f"XCW-26-00042-{REF.check}",
    f"CW-26-00042-{REF.check}9", f"CW-26-00043-{REF.check}", f"CW-25-00042-{REF.check}", "",
])
def test_bare_mistyped_or_glued_references_are_not_found(text: str) -> None:
    assert refs.find_in_text(text) is None


def test_plus_address_round_trip_with_extra_after_a_dot() -> None:
    address = refs.plus_address("casework@doe.example.gov", REF)
    assert address == f"casework+{REF.compact}.{refs.token_code(REF)}@doe.example.gov"
    assert refs.find_in_address(address) == REF
    assert refs.find_in_address(f"casework+{REF.compact}@doe.example.gov") == REF, "the older form still reads"
    assert refs.find_in_address(f"casework+{REF.compact}.agency-ssa@doe.example.gov") == REF
    assert refs.find_in_address(address.upper()) == REF
    assert refs.find_in_address("casework@doe.example.gov") is None
    assert refs.find_in_address(f"casework+cw2600042{WRONG.lower()}@doe.example.gov") is None


def test_our_message_ids_carry_the_reference() -> None:
    message_id = refs.message_id("doe.example.gov", REF)
    assert is_our_message_id(message_id, "doe.example.gov")
    assert not is_our_message_id(message_id, "example.com")
    assert refs.find_in_message_ids(["<other@example.com>", message_id]) == REF
    assert refs.message_id("doe.example.gov", REF) != message_id, "each Message-ID is fresh"
    assert refs.find_in_message_ids(["<hub.run.office.abc@doe.example.gov>"]) is None


def test_tokens_only_machines_carry_have_a_long_keyed_code() -> None:
    code = refs.token_code(REF)
    assert len(code) == 20 and code.isalnum() and code.islower(), "100 bits, lowercase base 32"
    assert References("CW", "another-secret-of-sufficient-length").token_code(REF) != code
    assert refs.token_code(refs.make(26, 43)) != code
    [candidate] = refs.candidates_in_message_ids([refs.message_id("doe.example.gov", REF)])
    assert (candidate.reference, candidate.keyed) == (REF, True)
    forged = code[:-1] + ("a" if code[-1] != "a" else "b")
    candidate = refs.candidate_in_address(f"casework+{REF.compact}.{forged}@doe.example.gov")
    assert candidate is not None and (candidate.reference, candidate.keyed) == (None, True)
    [legacy] = refs.candidates_in_message_ids([f"<hub.{REF.compact}.0123456789abcdef@doe.example.gov>"])
    assert (legacy.reference, legacy.keyed) == (REF, False)


def test_every_reference_in_a_text_is_a_candidate_verified_or_not() -> None:
    guesses = " ".join(f"CW-26-00042-{a}{b}" for a in "ABC" for b in "23")
    found = refs.candidates_in_text(f"{guesses} and {REF}")
    assert len(found) == 7 and [c.reference for c in found if c.verified] == [REF]


def test_redaction_drops_the_check_code() -> None:
    assert refs.redact(f"threaded {REF} by subject") == "threaded CW-26-00042-** by subject"


def test_log_lines_keep_only_the_first_letter_and_domain_of_an_address() -> None:
    text = "550 5.1.1 <pat.example@mail.example.com>: no such user; cc maria@doe.example.gov"
    assert addresses(text) == "550 5.1.1 <p…@mail.example.com>: no such user; cc m…@doe.example.gov"


def test_another_offices_references_are_found_in_every_form_by_one_key() -> None:
    """An imported case's old reference (hub.cases.forwarding) is looked up by its compact form, however written."""
    old = References("NC", "the-other-office-secret-of-length")
    theirs = old.make(25, 1234)
    key = theirs.compact
    assert {token_key(written) for written in (str(theirs), str(theirs).lower().replace("-", " "),
                                               old.plus_address("casework@old.example.gov", theirs),
                                               old.message_id("old.example.gov", theirs))} == {key}
    found = token_keys([f"Re: [{theirs}] and our {REF}", "Room 12 on floor 3"],
                       [old.plus_address("casework@old.example.gov", theirs), "casework@doe.example.gov"],
                       [old.message_id("old.example.gov", theirs), "<abc@mail.example.net>"])
    assert found == [key, REF.compact]
    assert refs.is_own_key(REF.compact) and not refs.is_own_key(key)
    assert not refs.is_own_key(f"cw2600042{'zz' if REF.check != 'ZZ' else 'yy'}")
    assert len(token_keys([" ".join(f"NC-25-{n:05d}-AB" for n in range(100))], [], [])) == 20

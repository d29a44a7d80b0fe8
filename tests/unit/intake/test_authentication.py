"""Staff-message authentication from Authentication-Results: hand-written headers, then every one in the corpus."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from email.utils import getaddresses
from pathlib import Path

import authres
import pytest

from hub.intake.authentication import Verdict, verify
from tests.corpus import CORPUS

SERVER = "mx.doe.example.gov"
STAFF = "sam@doe.example.gov"
DOMAIN = "doe.example.gov"


def header(*clauses: str, server: str = SERVER) -> str:
    return f"{server}; " + "; ".join(clauses)


def check(results: Sequence[str], from_address: str = STAFF, authserv_id: str = SERVER) -> Verdict:
    verdict = verify(results, authserv_id, from_address)
    assert verdict.reason and "\n" not in verdict.reason and "\r" not in verdict.reason
    return verdict


# --- what authenticates ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("clause", "reason"), [
    ("dmarc=pass (p=reject) header.from=doe.example.gov", "dmarc=pass for doe.example.gov"),
    ("dkim=pass (2048-bit key) header.d=doe.example.gov header.s=sel1 header.b=AbC+/1=",
     "dkim=pass for doe.example.gov"),
    ("dkim=pass header.i=@doe.example.gov", "dkim=pass for doe.example.gov"),
    ("dkim=pass header.i=sam@doe.example.gov", "dkim=pass for doe.example.gov"),
    ("dkim=pass header.i=@mail.doe.example.gov", "dkim=pass for mail.doe.example.gov, aligned with doe.example.gov"),
    ("dkim=pass header.d=doe.example.gov header.i=@mail.doe.example.gov", "dkim=pass for doe.example.gov"),
    ("spf=pass smtp.mailfrom=sam@doe.example.gov", "spf=pass for doe.example.gov"),
    ("spf=pass (mx: domain of doe.example.gov designates 192.0.2.1) smtp.mailfrom=doe.example.gov",
     "spf=pass for doe.example.gov"),
])
def test_a_pass_for_the_from_domain_authenticates(clause: str, reason: str) -> None:
    assert check([header(clause)]) == Verdict(True, reason)


@pytest.mark.parametrize("clause", [
    "dkim=pass header.d=example.gov",
    "spf=pass smtp.mailfrom=bounces@example.gov",
])
def test_relaxed_alignment_accepts_a_parent_domain(clause: str) -> None:
    verdict = check([header(clause)])
    assert verdict.authenticated
    assert verdict.reason.endswith("for example.gov, aligned with doe.example.gov")


def test_relaxed_alignment_accepts_mail_from_a_subdomain_of_the_signer() -> None:
    verdict = check([header("dkim=pass header.d=doe.example.gov")], from_address="sam@district.doe.example.gov")
    assert verdict == Verdict(True, "dkim=pass for doe.example.gov, aligned with district.doe.example.gov")


def test_dmarc_is_named_first_when_several_methods_pass() -> None:
    value = header("spf=pass smtp.mailfrom=doe.example.gov", "dkim=pass header.d=doe.example.gov",
                   "dmarc=pass header.from=doe.example.gov")
    assert check([value]) == Verdict(True, "dmarc=pass for doe.example.gov")


# --- what does not -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome", ["fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"])
@pytest.mark.parametrize(("method", "clause"), [
    ("dkim", "header.d=doe.example.gov"),
    ("spf", "smtp.mailfrom=sam@doe.example.gov"),
    ("dmarc", "header.from=doe.example.gov"),
])
def test_anything_but_pass_does_not_authenticate(method: str, clause: str, outcome: str) -> None:
    assert check([header(f"{method}={outcome} {clause}")]) == Verdict(False, f"{method}={outcome} for doe.example.gov")


@pytest.mark.parametrize(("clause", "reason"), [
    ("dkim=pass header.d=evil.example", "dkim=pass for evil.example, not doe.example.gov"),
    ("spf=pass smtp.mailfrom=evil.example", "spf=pass for evil.example, not doe.example.gov"),
    ("dmarc=pass header.from=evil.example", "dmarc=pass for evil.example, not doe.example.gov"),
    # DMARC speaks for exactly the From domain; a parent's result is another domain's
    ("dmarc=pass header.from=example.gov", "dmarc=pass for example.gov, not doe.example.gov"),
    # a subdomain does not vouch for its parent
    ("dkim=pass header.d=mail.doe.example.gov", "dkim=pass for mail.doe.example.gov, not doe.example.gov"),
    ("spf=pass smtp.mailfrom=x@mail.doe.example.gov", "spf=pass for mail.doe.example.gov, not doe.example.gov"),
    # a bare top-level domain aligns with nothing
    ("dkim=pass header.d=gov", "dkim=pass with unusable header.d=gov"),
    ("dkim=pass header.d=none", "dkim=pass with unusable header.d=none"),
    ("spf=pass smtp.mailfrom=<>", None),
    ("spf=pass smtp.mailfrom=", "spf=pass with empty smtp.mailfrom"),
    ("dkim=pass", "dkim=pass without header.d"),
    ("dmarc=pass", "dmarc=pass without header.from"),
    # the i= identity outside d= is no identity; only d= counts
    ("dkim=pass header.d=evil.example header.i=@doe.example.gov", "dkim=pass for evil.example, not doe.example.gov"),
    # i= without an @ is not an identity (RFC 6376 §3.5)
    ("dkim=pass header.i=doe.example.gov", "dkim=pass with unusable header.i=doe.example.gov"),
    # other methods never authenticate
    ("auth=pass smtp.auth=sam@doe.example.gov", None),
    ("sender-id=pass header.from=sam@doe.example.gov", None),
    ("iprev=pass policy.iprev=192.0.2.1", None),
    ("arc=pass smtp.remote-ip=192.0.2.1", None),
    ("spf=pass smtp.helo=doe.example.gov", "spf=pass without smtp.mailfrom"),
])
def test_a_pass_for_another_domain_does_not_authenticate(clause: str, reason: str | None) -> None:
    verdict = check([header(clause)])
    assert not verdict.authenticated
    if reason is not None:
        assert verdict.reason == reason


@pytest.mark.parametrize("clause", [
    "dkim=pass header.d=doe.example.gov.evil.com",
    "dkim=pass header.d=evildoe.example.gov",
    "dkim=pass header.i=@evildoe.example.gov",
    "dkim=pass header.i=sam@doe.example.gov.evil.com",
    'dkim=pass header.i="sam@doe.example.gov"@evil.com',
    "spf=pass smtp.mailfrom=sam@evildoe.example.gov",
    "spf=pass smtp.mailfrom=sam@doe.example.gov.evil.com",
    "dmarc=pass header.from=doe.example.gov.evil.com",
    "dmarc=pass header.from=evildoe.example.gov",
])
def test_look_alike_domains_do_not_authenticate(clause: str) -> None:
    verdict = check([header(clause)])
    assert not verdict.authenticated
    assert verdict.reason.endswith(", not doe.example.gov")


@pytest.mark.parametrize("from_address", [
    "sam@doe.example.gov.evil.com",
    "sam@evildoe.example.gov",
    '"sam@doe.example.gov" <mallory@evil.example>',
    "Sam Doe (sam@doe.example.gov) <mallory@evil.example>",
])
def test_a_look_alike_from_address_is_judged_by_its_real_domain(from_address: str) -> None:
    verdict = check([header("dkim=pass header.d=doe.example.gov")], from_address=from_address)
    assert not verdict.authenticated
    assert verdict.reason.startswith("dkim=pass for doe.example.gov, not ")


def test_the_from_address_may_carry_a_display_name() -> None:
    verdict = check([header("dkim=pass header.d=doe.example.gov")], from_address="Sam Doe <sam@doe.example.gov>")
    assert verdict == Verdict(True, "dkim=pass for doe.example.gov")


@pytest.mark.parametrize("from_address", ["", "sam", "sam@localhost", "a@doe.example.gov, b@evil.example", "@"])
def test_a_from_address_without_one_usable_domain_is_not_authenticated(from_address: str) -> None:
    verdict = check([header("dkim=pass header.d=doe.example.gov")], from_address=from_address)
    assert not verdict.authenticated
    assert verdict.reason.startswith("no usable domain in From address")


@pytest.mark.parametrize("server", [
    "mx.evil.example", "mx.doe.example.gov.evil.com", "doe.example.gov", "evil.example (mx.doe.example.gov)",
])
def test_results_from_another_authserv_id_are_ignored(server: str) -> None:
    verdict = check([header("dkim=pass header.d=doe.example.gov", server=server)])
    assert verdict == Verdict(False, "no Authentication-Results from mx.doe.example.gov")


@pytest.mark.parametrize("results", [[], ()])
def test_no_header_is_not_authenticated(results: Sequence[str]) -> None:
    assert check(results) == Verdict(False, "no Authentication-Results from mx.doe.example.gov")


def test_a_header_with_no_result_is_not_authenticated() -> None:
    assert check([f"{SERVER}; none"]) == Verdict(
        False, "Authentication-Results from mx.doe.example.gov have no dkim, spf or dmarc result")
    assert not check([header("iprev=pass policy.iprev=192.0.2.1")]).authenticated


def test_no_authserv_id_configured_trusts_nothing() -> None:
    verdict = check([header("dkim=pass header.d=doe.example.gov")], authserv_id=" ")
    assert not verdict.authenticated and "no authserv-id configured" in verdict.reason


GARBAGE = [
    "",
    "garbage",
    ";;;",
    SERVER,
    f"{SERVER}; dkim",
    f"{SERVER}; dkim=",
    f"{SERVER}; =pass",
    f"{SERVER}; dkim=pass header.d=doe.example.gov (unclosed comment",
    f"{SERVER}; dkim=pass header.d=\"doe.example.gov",
    f"{SERVER}; dkim=pass header.d=doe.example.gov; trailing garbage!",
    f"{SERVER} 2; dkim=pass header.d=doe.example.gov",  # only version 1 exists
    f"{SERVER}; dkim=pass header.d=doe.example.gov\nX-Injected: yes",
    f"{SERVER}; dkim=pass header.d=doe.example.gov\x00",
    f"{SERVER}; dkim=pass action=none header.d=doe.example.gov",  # an unknown ptype
    f"{SERVER}; " + "(" * 5000 + "x" + ")" * 5000 + " dkim=pass header.d=doe.example.gov",
    f"{SERVER}; dkim=pass header.d=doe.example.gov " + "header.s=x " * 3000,
    "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=doe.example.gov; dkim=pass header.d=doe.example.gov",
    "Authentication-Results: " + header("dkim=pass header.d=doe.example.gov"),  # a whole line, not a value
]


@pytest.mark.parametrize("value", GARBAGE, ids=[f"garbage{index}" for index in range(len(GARBAGE))])
def test_a_header_that_cannot_be_read_is_not_authenticated_and_does_not_raise(value: str) -> None:
    verdict = check([value])
    assert not verdict.authenticated
    assert verdict.reason.startswith("unparseable Authentication-Results")
    assert len(verdict.reason) < 300


def test_an_unreadable_header_of_ours_vetoes_a_pass_beside_it() -> None:
    results = [header("dkim=pass header.d=doe.example.gov"), f"{SERVER}; dkim=fail header.d=doe.example.gov ("]
    assert not check(results).authenticated
    assert not check(list(reversed(results))).authenticated


def test_an_unreadable_header_of_another_server_is_ignored() -> None:
    results = ["mx.other.example; dkim=fail (", header("dkim=pass header.d=doe.example.gov")]
    assert check(results) == Verdict(True, "dkim=pass for doe.example.gov")


def test_a_missing_semicolon_cannot_hide_a_failure() -> None:
    # authres in its default mode drops the clause it cannot read and would report a single dkim=pass
    value = f"{SERVER}; dkim=pass header.d=doe.example.gov dkim=fail header.d=doe.example.gov"
    assert [str(result) for result in authres.AuthenticationResultsHeader.parse_value(value).results] == [
        "dkim=pass header.d=doe.example.gov header.d=doe.example.gov"]
    assert not check([value]).authenticated


def test_one_result_naming_two_domains_is_not_trusted() -> None:
    verdict = check([header("dkim=pass header.d=evil.example header.d=doe.example.gov")])
    assert verdict == Verdict(False, "ambiguous Authentication-Results from mx.doe.example.gov: "
                                     "dkim result with 2 different header.d values")


# --- conflicts ---------------------------------------------------------------------------------------------------

def test_pass_and_fail_for_the_same_domain_in_one_header_conflict() -> None:
    value = header("dkim=pass header.d=doe.example.gov", "dkim=fail header.d=doe.example.gov")
    assert check([value]) == Verdict(False, "conflicting Authentication-Results from mx.doe.example.gov: "
                                            "dkim=pass and dkim=fail for doe.example.gov")


def test_pass_and_fail_for_the_same_domain_in_two_headers_conflict() -> None:
    results = [header("spf=pass smtp.mailfrom=doe.example.gov"), header("spf=softfail smtp.mailfrom=DOE.example.gov")]
    verdict = check(results)
    assert not verdict.authenticated
    assert verdict.reason.startswith("conflicting Authentication-Results")


def test_any_other_result_for_the_same_domain_conflicts_with_a_pass() -> None:
    verdict = check([header("dkim=pass header.d=doe.example.gov", "dkim=neutral header.d=doe.example.gov")])
    assert not verdict.authenticated and verdict.reason.startswith("conflicting")


def test_a_conflict_for_one_domain_is_not_overruled_by_another_pass() -> None:
    value = header("dkim=pass header.d=doe.example.gov", "dkim=fail header.i=@doe.example.gov",
                   "spf=pass smtp.mailfrom=doe.example.gov")
    assert not check([value]).authenticated


def test_a_failure_for_another_domain_is_no_conflict() -> None:
    value = header("dkim=fail header.d=list.example.org", "dkim=pass header.d=doe.example.gov")
    assert check([value]) == Verdict(True, "dkim=pass for doe.example.gov")


def test_a_failure_from_another_server_is_no_conflict() -> None:
    results = [header("dkim=fail header.d=doe.example.gov", server="mx.other.example"),
               header("dkim=pass header.d=doe.example.gov")]
    assert check(results) == Verdict(True, "dkim=pass for doe.example.gov")


def test_dmarc_fail_for_the_from_domain_overrules_a_relaxed_dkim_pass() -> None:
    value = header("dkim=pass header.d=example.gov", "dmarc=fail (p=reject) header.from=doe.example.gov")
    assert check([value]) == Verdict(False, "dmarc=fail for doe.example.gov, which overrules dkim=pass for example.gov")


# --- case, several results, several headers ----------------------------------------------------------------------

def test_authserv_ids_methods_and_domains_compare_case_insensitively() -> None:
    value = "MX.Doe.Example.GOV; DKIM=Pass HEADER.D=Doe.Example.Gov"
    assert check([value], from_address="Sam@DOE.EXAMPLE.GOV", authserv_id="mx.DOE.example.gov") == Verdict(
        True, "dkim=pass for doe.example.gov")
    assert check([header("dmarc=PASS header.from=DOE.EXAMPLE.GOV.")]).authenticated


def test_one_pass_among_several_results_in_one_header_authenticates() -> None:
    value = header("dkim=pass header.d=doe.example.gov", "spf=fail smtp.mailfrom=doe.example.gov")
    assert check([value]) == Verdict(True, "dkim=pass for doe.example.gov")


def test_a_pass_in_a_second_header_of_ours_authenticates() -> None:
    results = [header("spf=softfail smtp.mailfrom=doe.example.gov"), header("dkim=pass header.d=doe.example.gov")]
    assert check(results) == Verdict(True, "dkim=pass for doe.example.gov")


def test_the_reason_for_a_failure_names_every_result_found() -> None:
    value = header("dkim=fail header.d=doe.example.gov", "spf=softfail smtp.mailfrom=doe.example.gov",
                   "dmarc=none header.from=doe.example.gov")
    assert check([value]).reason == ("dkim=fail for doe.example.gov; spf=softfail for doe.example.gov; "
                                     "dmarc=none for doe.example.gov")
    many = header(*[f"dkim=fail header.d=d{index}.example" for index in range(10)])
    assert check([many]).reason.endswith("; and 6 more")


def test_a_folded_header_value_is_read() -> None:
    value = f"{SERVER};\r\n\tdkim=pass (good signature)\r\n header.d=doe.example.gov;\n spf=none smtp.mailfrom=x"
    assert check([value]) == Verdict(True, "dkim=pass for doe.example.gov")


def test_a_lone_string_is_one_header_not_a_sequence_of_characters() -> None:
    assert verify(header("dkim=pass header.d=doe.example.gov"), SERVER, STAFF).authenticated


def test_an_internationalised_from_domain_matches_its_a_labels() -> None:
    verdict = check([header("dkim=pass header.d=xn--br-gka.example")], from_address="sam@brö.example")
    assert verdict == Verdict(True, "dkim=pass for xn--br-gka.example")


# --- the real-world corpus ---------------------------------------------------------------------------------------

FIELD = re.compile(rb"^Authentication-Results:[ \t]*(.*(?:\n[ \t].*)*)", re.I | re.M)
FROM_LINE = re.compile(rb"^From:[ \t]*(.*)$", re.I | re.M)


def corpus_headers() -> Iterator[tuple[Path, str, str]]:
    """(file, header value, first From: line) for every Authentication-Results header in the shared corpus,
    wherever it sits: top-level headers, attached originals, returned headers inside bounces."""
    if not CORPUS.is_dir():
        pytest.skip(f"mail corpus not found at {CORPUS} (shared corpus not checked out)")
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"authentication-results" not in data.lower():
            continue
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # some files are CRLF, some CR-only
        sender = FROM_LINE.search(data)
        for match in FIELD.finditer(data):
            value = match.group(1).decode("latin-1").replace("\n", "\r\n")  # as folded in the message
            yield path, value, sender.group(1).decode("latin-1") if sender else ""


def own_authserv_id(value: str) -> str:
    try:
        return str(authres.AuthenticationResultsHeader.parse_value(re.sub(r"\r\n(?=[ \t])", "", value)).authserv_id)
    except Exception:
        return (value.split(";")[0].split() or [""])[0]


def test_every_corpus_header_gets_a_one_line_verdict_with_its_own_authserv_id() -> None:
    headers = list(corpus_headers())
    files = {path for path, _, _ in headers}
    # measured when written: 312 headers in 243 files
    assert len(files) >= 240 and len(headers) >= 300
    verdicts: list[Verdict] = []
    for _, value, sender in headers:
        addresses = [address for _, address in getaddresses([sender]) if "@" in address]
        from_address = addresses[0] if addresses else STAFF
        for candidate in (from_address, STAFF):
            verdict = check([value], from_address=candidate, authserv_id=own_authserv_id(value))
            verdicts.append(verdict)
    unreadable = [verdict for verdict in verdicts if verdict.reason.startswith("unparseable")]
    authenticated = [verdict for verdict in verdicts if verdict.authenticated]
    # measured when written: 78 of the 312 cannot be read: 77 that authres rejects (Office 365 headers without
    # an authserv-id, quoted-printable-encoded copies inside bounces, old Yahoo "from=…" clauses) and one it
    # reads only by dropping a clause after a missing ";" (sisimai lhost-postfix-78). One more is empty, so
    # has no authserv-id to check against. 38 authenticate the first From address of their file (Gmail DSNs
    # by dmarc=pass for googlemail.com, flanker's and spamscope's messages by dkim=pass, one spf=pass).
    assert len(unreadable) == 2 * 78
    assert len(authenticated) == 38
    assert not any(verdict.authenticated for verdict in verdicts[1::2])  # never for the staff domain


def test_every_corpus_header_together_per_file_does_not_raise() -> None:
    by_file: dict[Path, list[str]] = {}
    for path, value, _ in corpus_headers():
        by_file.setdefault(path, []).append(value)
    for values in by_file.values():
        for authserv_id in {own_authserv_id(value) for value in values}:
            check(values, authserv_id=authserv_id)


def test_corpus_gmail_header_authenticates_its_sender_by_dmarc() -> None:
    path = CORPUS / "sisimai-set-of-emails" / "maildir" / "not" / "is-not-bounce-02.eml"
    values = [value for file, value, _ in corpus_headers() if file == path]
    if not values:
        pytest.skip(f"{path} not in the corpus")
    assert check(values, from_address="dummy@example.com", authserv_id="mx.example.com") == Verdict(
        True, "dmarc=pass for example.com")
    assert not check(values, from_address=STAFF, authserv_id="mx.example.com").authenticated

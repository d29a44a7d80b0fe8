"""[office] mail_system: who is staff and who is an agency by the word of Exchange Online or Gmail.

The messages are built as each service delivers them (tests/mail_systems.py names the published samples
they follow); every forgery is refused with its reason, and the rule of "authres" is left as it was.
"""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from hub.core import config as config_module
from hub.core.config import Config
from hub.core.config_oauth2 import OAuth2
from hub.intake.authentication import Verdict, sender_verdict
from hub.intake.parse.email import parse_email
from hub.run.office import init_office
from tests.corpus import corpus_dir
from tests.helpers import STAFF, START
from tests.mail_systems import (
    MAILBOX_SERVER,
    OTHER_TENANT,
    TENANT,
    exchange_inbound,
    exchange_internal,
    exchange_results,
    google_inbound,
    google_results,
    internal_stamp,
)

MARIA = f"Maria Lopez <{STAFF}>"
LIAISON = "congressional.liaison@ssa.gov"
ATTACKER = "attacker@evil.example"
INTERNAL = Verdict(True, f"internal mail of Microsoft 365 tenant {TENANT}, authenticated by {MAILBOX_SERVER.lower()}")


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return config_module.load(init_office(tmp_path_factory.mktemp("mail-systems") / "office"))


def on(config: Config, mail_system: str, tenant: str = TENANT) -> Config:
    return replace(config, office=replace(config.office, mail_system=mail_system),
                   oauth2=OAuth2(provider="microsoft", scope="https://outlook.office365.com/.default", tenant=tenant,
                                 client_id="hub"))


def written(sender: str = MARIA, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A reply as the sender's mail client writes it; `headers` are the sender's own additions."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "casework+cw2600001k7@doe.example.gov", "RE: case"
    message["Date"], message["Message-ID"] = format_datetime(START), make_msgid(domain="doe.example.gov")
    for name, value in headers:
        message[name] = value.replace("\r\n", "")  # the client folds it as it likes
    message.set_content("#assign sam\n#close resolved\n")
    return message.as_bytes()


def verdict(raw: bytes, config: Config) -> Verdict:
    result = sender_verdict(parse_email(raw, "test", 1 << 20), config)
    assert result.reason and "\n" not in result.reason
    return result


# --- Microsoft 365: mail inside the tenant ------------------------------------------------------------------------

def test_staff_mail_inside_the_tenant_is_vouched_for_by_exchanges_stamp(office: Config) -> None:
    assert verdict(exchange_internal(written()), on(office, "microsoft365")) == INTERNAL


def test_the_same_mail_is_refused_under_authres_which_is_the_issue(office: Config) -> None:
    """Internal mail is not DKIM-signed and carries no SPF pass: Authentication-Results alone refuse it."""
    refused = verdict(exchange_internal(written()), on(office, "authres"))
    assert not refused.authenticated


def test_the_tenant_comparison_ignores_case_and_folding(office: Config) -> None:
    stamp = [(name, value.upper() if name == "X-MS-Exchange-CrossTenant-id" else value)
             for name, value in internal_stamp()]
    assert verdict(exchange_internal(written(), stamp=stamp), on(office, "microsoft365")).authenticated


@pytest.mark.parametrize(("stamp", "reason"), [
    (internal_stamp(OTHER_TENANT), f"internal mail of Microsoft 365 tenant {OTHER_TENANT}, not of this office's"),
    (internal_stamp() + [("X-MS-Exchange-CrossTenant-Id", OTHER_TENANT)],
     f"internal mail of Microsoft 365 tenant {OTHER_TENANT}, not of this office's tenant {TENANT}"),
    ([pair for pair in internal_stamp() if pair[0] != "X-MS-Exchange-CrossTenant-id"],
     "internal mail without X-MS-Exchange-CrossTenant-Id"),
    ([(n, "Anonymous" if n == "X-MS-Exchange-CrossTenant-AuthAs" else v) for n, v in internal_stamp()],
     "X-MS-Exchange-CrossTenant-AuthAs says anonymous, not internal"),
    (internal_stamp() + [("X-MS-Exchange-Organization-AuthAs", "Internal")],
     "X-MS-Exchange-Organization-AuthAs appears as internal, internal; Exchange writes it once"),
], ids=["another tenant", "a second tenant id", "no tenant id", "cross-tenant anonymous", "two stamps"])
def test_an_internal_stamp_of_another_tenant_or_an_odd_one_is_refused(office: Config, stamp: list[tuple[str, str]],
                                                                     reason: str) -> None:
    refused = verdict(exchange_internal(written(), stamp=stamp), on(office, "microsoft365"))
    assert not refused.authenticated and reason in refused.reason, refused.reason


@pytest.mark.parametrize("sender", [f"SSA Liaison <{LIAISON}>", f'"{MARIA}" <{ATTACKER}>', f"{STAFF} <{ATTACKER}>"],
                         ids=["an agency address", "a staff name and address as display name", "unquoted"])
def test_internal_mail_vouches_for_staff_addresses_only(office: Config, sender: str) -> None:
    """A mailbox of the tenant writing an agency's address, or a staff address as its display name."""
    refused = verdict(exchange_internal(written(sender)), on(office, "microsoft365"))
    assert not refused.authenticated


def test_a_stamp_without_the_office_tenant_configured_is_refused(office: Config) -> None:
    refused = verdict(exchange_internal(written()), on(office, "microsoft365", tenant=""))
    assert refused == Verdict(False, "no [oauth2] tenant id to hold Exchange's tenant stamp against")


# --- Microsoft 365: mail from outside, and forgeries of staff mail ------------------------------------------------

def test_an_agency_is_vouched_for_by_exchanges_authentication_results(office: Config) -> None:
    raw = exchange_inbound(written(f"SSA Liaison <{LIAISON}>"), exchange_results("ssa.gov"))
    assert verdict(raw, on(office, "microsoft365")) == Verdict(True, "dmarc=pass for ssa.gov")


@pytest.mark.parametrize(("results", "reason"), [
    (exchange_results("ssa.gov", compauth="fail 000"),
     "compauth=fail from Exchange Online, which overrules dmarc=pass for ssa.gov"),
    (exchange_results("ssa.gov", compauth="softpass 200"), "compauth=softpass from Exchange Online"),
    (exchange_results("ssa.gov", spf="fail", dkim="none", dmarc="fail", compauth="fail 000"), "dmarc=fail for ssa.gov"),
    (exchange_results("ssa.gov", dmarc="bestguesspass", spf="none", dkim="none", compauth="none 405"),
     "dmarc=bestguesspass for ssa.gov"),
])
def test_an_agency_answer_exchange_does_not_vouch_for_is_refused(office: Config, results: str, reason: str) -> None:
    refused = verdict(exchange_inbound(written(f"SSA Liaison <{LIAISON}>"), results), on(office, "microsoft365"))
    assert not refused.authenticated and reason in refused.reason, refused.reason


# What arrives when someone outside writes a staff address into From: Exchange's header firewall took out
# whatever X-MS-Exchange-Organization-* he wrote and stamped Anonymous; its Authentication-Results fail.
SPOOFED = exchange_results("doe.example.gov", spf="fail", dkim="none", dmarc="fail", compauth="fail 000")
FORGED_PASS = exchange_results("doe.example.gov")
OUTSIDE_FORGERIES = {
    "the firewall removed his AuthAs: Internal": (written(), SPOOFED, None, "dmarc=fail for doe.example.gov"),
    # Belt and braces: his copy got through beside Exchange's own.
    "his AuthAs: Internal beside Exchange's Anonymous": (
        written(headers=tuple(internal_stamp())), SPOOFED, None, "X-MS-Exchange-Organization-AuthAs appears as"),
    # The linux-erofs phishing mail of 15 Jan 2025 carried this header, written outside.
    "AuthAs: Internal74": (written(headers=(("X-Ms-Exchange-Organization-Authas", "Internal74"),)), SPOOFED, None,
                           "dmarc=fail for doe.example.gov"),
    "a passing Authentication-Results below Exchange's own": (
        written(headers=(("Authentication-Results", FORGED_PASS),)), SPOOFED, None, "dmarc=fail for doe.example.gov"),
    "a look-alike authserv-id on top": (
        written(), "protection.outlook.com; dmarc=pass header.from=doe.example.gov; compauth=pass", None,
        "not in Exchange Online's form (it names authserv-id protection.outlook.com)"),
    "Exchange's stamp of another tenant": (written(), FORGED_PASS, [
        ("X-MS-Exchange-Organization-AuthAs", "Internal"), ("X-MS-Exchange-CrossTenant-Id", OTHER_TENANT)],
        f"internal mail of Microsoft 365 tenant {OTHER_TENANT}"),
}


@pytest.mark.parametrize("forgery", list(OUTSIDE_FORGERIES))
def test_a_forged_staff_message_from_outside_is_refused(office: Config, forgery: str) -> None:
    message, results, stamp, reason = OUTSIDE_FORGERIES[forgery]
    refused = verdict(exchange_inbound(message, results, stamp=stamp), on(office, "microsoft365"))
    assert not refused.authenticated and reason in refused.reason, refused.reason


def test_outside_mail_without_exchanges_results_is_refused(office: Config) -> None:
    raw = exchange_inbound(written(f"SSA Liaison <{LIAISON}>"), None)
    assert verdict(raw, on(office, "microsoft365")) == Verdict(False, "no Authentication-Results from Exchange Online")


def test_real_exchange_online_deliveries_are_judged_by_their_results(office: Config) -> None:
    """sisimai's Exchange Online samples, bounces from postmaster@outlook.com delivered in outlook.com's own
    tenant: the older form (the tenant's domain between results, no compauth yet) reads as DMARC passing."""
    folder = corpus_dir("sisimai-set-of-emails") / "maildir" / "bsd"
    for number in range(4, 13):
        raw = (folder / f"lhost-office365-{number:02d}.eml").read_bytes()
        assert verdict(raw, on(office, "microsoft365")) == Verdict(True, "dmarc=pass for outlook.com"), number
        assert verdict(raw, on(office, "microsoft365", tenant=OTHER_TENANT)).authenticated, "not internal mail"


# --- Google ------------------------------------------------------------------------------------------------------

def gmail(sender: str = MARIA, results: str | None = None, arc: str | None = None,
          headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    return google_inbound(written(sender, headers), results if results is not None else
                          google_results("doe.example.gov", STAFF), arc=arc)


def test_workspace_staff_mail_is_vouched_for_by_mx_google_com(office: Config) -> None:
    assert verdict(gmail(), on(office, "google")) == Verdict(True, "dmarc=pass for doe.example.gov")


def test_an_agency_through_gmail_is_judged_the_same_way(office: Config) -> None:
    raw = gmail(f"SSA Liaison <{LIAISON}>", google_results("ssa.gov", LIAISON))
    assert verdict(raw, on(office, "google")) == Verdict(True, "dmarc=pass for ssa.gov")


FAILED = google_results("doe.example.gov", ATTACKER, dkim="none", spf="softfail", dmarc="fail")
GOOGLE_FORGERIES = {
    "a passing header below Google's own": (
        {"results": FAILED, "headers": (("Authentication-Results", google_results("doe.example.gov", STAFF)),)},
        "dmarc=fail for doe.example.gov"),
    "a passing header below Google's own, without an ARC set": (
        {"results": FAILED, "arc": "", "headers": (("Authentication-Results",
                                                    google_results("doe.example.gov", STAFF)),)},
        "dmarc=fail for doe.example.gov"),
    "a look-alike authserv-id on top": (
        {"results": google_results("doe.example.gov", STAFF, server="mx.google.com.evil.example")},
        "is not from mx.google.com (it names authserv-id mx.google.com.evil.example)"),
    "another look-alike": ({"results": google_results("doe.example.gov", STAFF, server="mx-google.com")},
                           "it names authserv-id mx-google.com"),
    "Google's ARC set disagrees": ({"arc": FAILED}, "Google's own ARC results do not agree: dmarc=fail"),
    "a passing ARC set of the sender's below Google's": (
        {"results": FAILED, "headers": (("ARC-Authentication-Results",
                                         "i=5; " + google_results("doe.example.gov", STAFF)),)},
        "dmarc=fail for doe.example.gov"),
}


@pytest.mark.parametrize("forgery", list(GOOGLE_FORGERIES))
def test_a_forged_staff_message_through_gmail_is_refused(office: Config, forgery: str) -> None:
    options, reason = GOOGLE_FORGERIES[forgery]
    refused = verdict(gmail(**options), on(office, "google"))  # type: ignore[arg-type]
    assert not refused.authenticated and reason in refused.reason, refused.reason


def test_google_mode_trusts_no_other_server(office: Config) -> None:
    raw = gmail(results="mx.doe.example.gov; dkim=pass header.d=doe.example.gov")
    assert not verdict(raw, on(office, "google")).authenticated


def test_a_display_name_spoof_is_not_the_staff_members(office: Config, tmp_path: Path) -> None:
    """`"Maria Lopez <maria.lopez@…>" <attacker@…>`: the sender is the attacker, whose domain is judged."""
    raw = gmail(f'"{MARIA}" <{ATTACKER}>', google_results("evil.example", ATTACKER))
    message = parse_email(raw, "test", 1 << 20)
    assert message.sender == ATTACKER
    assert sender_verdict(message, on(office, "google")) == Verdict(True, "dmarc=pass for evil.example")

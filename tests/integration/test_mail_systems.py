"""Caseworkers on Microsoft 365 or Google Workspace command the hub by mail, end to end (SQLite and PostgreSQL).

Their replies arrive the way Exchange Online and Gmail deliver them (tests/mail_systems.py): a reply with
"#assign sam" and "#close resolved" from a mailbox of the office's tenant is applied; every forgery changes
nothing, and the caseworker it pretends to be is told, or it waits in triage. Agencies are judged by the
same mail system's word.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from tests import mail_systems as ms
from tests.helpers import START
from tests.integration.test_commands import (
    ATTACKER,
    LIAISON,
    MARIA,
    SAM,
    answer,
    arrive,
    case_of,
    cycle,
    events,
    new_case,
    open_office,
    row_of,
    state,
    subject,
    text_of,
)
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

COMMANDS = "#assign sam\n#close resolved\n"


def office_on(folder: Path, database_url: str, smtp: SmtpServer, mail_system: str) -> Hub:
    """An office whose mail system is `mail_system` (with the tenant of tests/mail_systems.py)."""
    hub = open_office(folder, database_url, smtp)
    hub.close()
    path = hub.config.path
    text = path.read_text().replace('mail_system = "authres"', f'mail_system = "{mail_system}"', 1)
    path.write_text(text + f'\n[oauth2]\nprovider = "microsoft"\ntenant = "{ms.TENANT}"\nclient_id = "casework-hub"\n'
                    'client_secret_env = "HUB_OAUTH2_SECRET"\n')
    return open_hub(path, FixedClock(START))


@pytest.fixture(params=["microsoft365", "google"])
def office(request: pytest.FixtureRequest, tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = office_on(tmp_path / "office", database_url, smtp, request.param)
    yield hub
    hub.close()


def written(message: EmailMessage, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The message as the sender's client sends it, with `headers` of the sender's own below the others."""
    for name, value in headers:
        message[name] = value.replace("\r\n", "")
    return message.as_bytes(policy=policy.SMTP)


def delivered(hub: Hub, message: EmailMessage) -> bytes:
    """A staff member's genuine reply as the office's mail system delivers it."""
    if hub.config.office.mail_system == "microsoft365":
        return ms.exchange_internal(written(message))
    return ms.google_inbound(written(message), ms.google_results("doe.example.gov", MARIA))


def test_staff_commands_from_the_mail_system_are_applied(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    (notice,) = smtp.sent_to(MARIA)
    message_id = arrive(hub, delivered(hub, answer(notice, f"Maria Lopez <{MARIA}>", COMMANDS)))
    assert cycle(hub).inbox.fates == {"case": 1}

    assert state(hub, ref) == ("closed", SAM, None, [], "resolved")
    (confirmation,) = smtp.sent_to(MARIA)[1:]
    assert subject(confirmation).startswith(f"[{ref}] Done")
    assert "- assigned to Sam Carter" in text_of(confirmation) and "- closed (resolved)" in text_of(confirmation)
    assert [(event.actor, event.via) for event in events(hub, ref) if event.kind == "closed"] == [(MARIA, "mail")]
    assert row_of(hub, message_id).kind == "staff"


def test_the_same_reply_is_refused_under_authres(tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    """The issue: internal Microsoft 365 mail carries no passing DKIM or SPF, so today's rule refuses it."""
    hub = open_office(tmp_path / "office", database_url, smtp)
    try:
        ref = new_case(hub).ref
        before = state(hub, ref)
        (notice,) = smtp.sent_to(MARIA)
        arrive(hub, ms.exchange_internal(written(answer(notice, MARIA, COMMANDS))))
        cycle(hub)
        assert state(hub, ref) == before
        assert "could not be authenticated" in text_of(smtp.sent_to(MARIA)[-1])
    finally:
        hub.close()


# Each forgery: how it arrives (from the reply as its sender wrote it), and whether its From is the staff
# address (then the message is kept on the case and Maria told) or another (then it waits in triage).
SPOOFED_EXCHANGE = ms.exchange_results("doe.example.gov", spf="fail", dkim="none", dmarc="fail", compauth="fail 000")
SPOOFED_GOOGLE = ms.google_results("doe.example.gov", ATTACKER, dkim="none", spf="softfail", dmarc="fail")
PASSING_EXCHANGE = ("Authentication-Results", ms.exchange_results("doe.example.gov"))
PASSING_GOOGLE = ("Authentication-Results", ms.google_results("doe.example.gov", MARIA))
LOOK_ALIKE = "protection.outlook.com; dmarc=pass header.from=doe.example.gov"
DISPLAY_NAME = f'"Maria Lopez <{MARIA}>" <{ATTACKER}>'
FORGERIES = {
    "microsoft365": {
        "AuthAs: Internal written outside, removed by Exchange": (
            lambda m: ms.exchange_inbound(written(m), SPOOFED_EXCHANGE), True),
        "AuthAs: Internal written outside, beside Exchange's Anonymous": (
            lambda m: ms.exchange_inbound(written(m, tuple(ms.internal_stamp())), SPOOFED_EXCHANGE), True),
        "a passing Authentication-Results below Exchange's own": (
            lambda m: ms.exchange_inbound(written(m, (PASSING_EXCHANGE,)), SPOOFED_EXCHANGE), True),
        "a look-alike authserv-id": (lambda m: ms.exchange_inbound(written(m), LOOK_ALIKE), True),
        "internal mail of a wrong tenant": (
            lambda m: ms.exchange_internal(written(m), tenant=ms.OTHER_TENANT), True),
        "a second tenant's internal mail": (lambda m: ms.exchange_internal(
            written(m), stamp=[*ms.internal_stamp(), ("X-MS-Exchange-CrossTenant-Id", ms.OTHER_TENANT)]), True),
        "the staff address as display name": (
            lambda m: ms.exchange_internal(written(_sent_by(m, DISPLAY_NAME))), False),
    },
    "google": {
        "a passing Authentication-Results below Google's own": (
            lambda m: ms.google_inbound(written(m, (PASSING_GOOGLE,)), SPOOFED_GOOGLE, arc=""), True),
        "a look-alike authserv-id": (lambda m: ms.google_inbound(written(m), ms.google_results(
            "doe.example.gov", MARIA, server="mx.google.com.evil.example")), True),
        "Google's ARC results fail": (lambda m: ms.google_inbound(
            written(m), PASSING_GOOGLE[1], arc=SPOOFED_GOOGLE), True),
        "the staff address as display name": (lambda m: ms.google_inbound(
            written(_sent_by(m, DISPLAY_NAME)), ms.google_results("evil.example", ATTACKER)), False),
    },
}


def _sent_by(message: EmailMessage, sender: str) -> EmailMessage:
    message.replace_header("From", sender)
    return message


@pytest.mark.parametrize(("mail_system", "forgery"), [(system, name) for system, forgeries in FORGERIES.items()
                                                      for name in forgeries])
def test_forged_staff_commands_change_nothing(tmp_path: Path, database_url: str, smtp: SmtpServer,
                                              mail_system: str, forgery: str) -> None:
    make, staff_from = FORGERIES[mail_system][forgery]
    hub = office_on(tmp_path / "office", database_url, smtp, mail_system)
    try:
        ref = new_case(hub).ref
        before = state(hub, ref)
        (notice,) = smtp.sent_to(MARIA)
        message_id = arrive(hub, make(answer(notice, MARIA, COMMANDS + "Please send your bank details.")))
        cycle(hub)

        assert state(hub, ref) == before
        assert smtp.sent_to(SAM) == [] and smtp.sent_to(ATTACKER) == []
        row = row_of(hub, message_id)
        if staff_from:
            (told,) = smtp.sent_to(MARIA)[1:]
            assert subject(told).startswith(f"[{ref}] Nothing was applied or sent")
            assert "could not be authenticated" in text_of(told)
            assert (row.case_id, row.kind) == (case_of(hub, ref).id, "staff")
        else:
            (held,) = smtp.sent_to(MARIA)[1:]  # she is the intake address too
            assert subject(held).startswith("In triage:"), "nothing to the caseworker it pretends to be"
            assert (row.disposition, row.sender) == ("triage", ATTACKER)
    finally:
        hub.close()


@pytest.mark.parametrize(("results", "lands"), [
    (ms.exchange_results("ssa.gov"), True),
    (ms.exchange_results("ssa.gov", compauth="fail 000"), False),
    (None, False),
], ids=["vouched for", "compauth fails", "no results"])
def test_agency_answers_follow_exchanges_results(tmp_path: Path, database_url: str, smtp: SmtpServer,
                                                 results: str | None, lands: bool) -> None:
    hub = office_on(tmp_path / "office", database_url, smtp, "microsoft365")
    try:
        ref = new_case(hub).ref
        message = answer(smtp.sent_to(MARIA)[0], f"SSA Liaison <{LIAISON}>", "The claim was approved.")
        message.replace_header("Subject", f"RE: [{ref}] Congressional inquiry")
        message_id = arrive(hub, ms.exchange_inbound(written(message), results))
        cycle(hub)
        row = row_of(hub, message_id)
        assert (row.kind, row.disposition == "triage") == ("agency", not lands), row.disposition
    finally:
        hub.close()

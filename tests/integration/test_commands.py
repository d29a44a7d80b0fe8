"""Casework by mail, end to end against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

A caseworker runs a case from her mail client: commands at the top of a reply are applied together or
not at all, only when the office's own mail server vouches for her (Authentication-Results above its
Received line), and she gets one confirmation listing what changed, or why nothing did. The same
actions from the command line go through the same code. Assignment rules, the privacy-release gate on
agency inquiries and the urgent label on a new case are checked from the mail that arrives to the
mail that leaves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli.main import main as hub_cli
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.models import Case, Event, Message, Outbox, Release, Reminder
from hub.intake.commands import help_lines
from hub.run.cycle import Cycle, run_once
from tests.helpers import OFFICE_ADDRESS, STAFF, STAFF_AUTHENTICATED, START, deliver, make_office, vouched
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration

PAT = "pat@example.com"
MARIA = STAFF
SAM = "sam.carter@doe.example.gov"
LIAISON = "congressional.liaison@ssa.gov"
VA_LIAISON = "liaison@va.gov"
ATTACKER = "attacker@evil.example"
SERVER = "mx.doe.example.gov"
# The office's receiving server adds its Received line; it writes its Authentication-Results above it.
RECEIVED = f"from mail.doe.example.gov (mail.doe.example.gov [192.0.2.10]) by {SERVER} with ESMTPS id 4Xy7; " \
           "Mon, 23 Nov 2026 14:00:00 +0000"
# Between cycles: past the window of the automatic-mail caps, so that no notice is held back by them.
STEP = timedelta(minutes=11)
# The fields a command can change.
CASE_FIELDS = ("status", "assignee", "agency", "labels", "close_reason")


# ---------------------------------------------------------------------------------------------------
# The office, its mail, and what it sent


def open_office(folder: Path, database_url: str, smtp: SmtpServer, *, rules: tuple[str, ...] = (),
                weekdays: dict[str, str] | None = None, intake_address: str = "",
                ssa_release_valid_days: int | None = None, caseworker_digest: bool = False,
                inbox_url: str | None = None, ssa_control_number: str | None = None) -> Hub:
    """An office sending through `smtp`, with SSA and VA liaisons, and the given assignment settings; its
    inbox is `inbox_url` (a Maildir in the office folder without it), and SSA's control numbers are quoted
    as `ssa_control_number` (a pattern with one group) when given."""
    ssa: dict[str, object] = {"liaison": LIAISON}
    if ssa_control_number:
        ssa["control_number"] = ssa_control_number
    hub = make_office(folder, database_url, inbox_url=inbox_url, outbound_url=smtp.url(),
                      agencies={"ssa": ssa, "va": {"liaison": VA_LIAISON}}, caseworker_digest=caseworker_digest)
    if not (rules or weekdays or intake_address or ssa_release_valid_days is not None):
        return hub
    hub.close()
    config = hub.config.path
    text = config.read_text()
    text = re.sub(r"(?m)^rules = \[\]$", "rules = [" + ", ".join(f'"{rule}"' for rule in rules) + "]", text, count=1)
    days = "".join(f'{day} = "{who}"\n' for day, who in (weekdays or {}).items())
    text = text.replace("[assignment.weekdays]\n", f"[assignment.weekdays]\n{days}", 1)
    text = re.sub(r'(?m)^intake_address = ""$', f'intake_address = "{intake_address}"', text, count=1)
    config.write_text(text)
    if ssa_release_valid_days is not None:
        directory = config.parent / "agencies.toml"
        directory.write_text(directory.read_text().replace(
            "[agencies.ssa]\n", f"[agencies.ssa]\nrelease_valid_days = {ssa_release_valid_days}\n", 1))
    return open_hub(config, FixedClock(START))


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = open_office(tmp_path / "office", database_url, smtp)
    yield hub
    hub.close()


def mail(sender: str, to: str, subject: str, body: str, in_reply_to: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(START)
    message["Message-ID"] = make_msgid(domain="mail.example.net")
    if in_reply_to:
        message["In-Reply-To"] = message["References"] = in_reply_to
    message.set_content(body)
    return message


def answer(to: CapturedMessage, sender: str, body: str) -> EmailMessage:
    """A reply to a message the hub sent, the way a mail client writes one."""
    sent = to.message
    return mail(sender, str(sent["Reply-To"] or sent["From"]), f"Re: {sent['Subject']}", body,
                str(sent["Message-ID"]))


def arrive(hub: Hub, message: EmailMessage | bytes, *above: tuple[str, str]) -> str:
    """Deliver a message to the office's inbox (Maildir or IMAP) as its receiving server would: `above` are the header
    lines the server writes on top (its Authentication-Results, then its Received line). Returns the
    message's Message-ID."""
    raw = message if isinstance(message, bytes) else message.as_bytes(policy=policy.SMTP)
    raw = b"".join(f"{name}: {value}\r\n".encode() for name, value in above) + raw
    deliver(hub, raw)
    found = re.search(rb"(?im)^Message-ID:\s*(<[^>]+>)", raw)
    assert found is not None
    return found.group(1).decode()


def from_agency(hub: Hub, message: EmailMessage) -> str:
    """An agency's message, authenticated by the office's own server."""
    return arrive(hub, message, ("Authentication-Results", vouched(str(message["From"]))), ("Received", RECEIVED))


def from_staff(hub: Hub, message: EmailMessage | bytes, results: str = STAFF_AUTHENTICATED) -> str:
    """A caseworker's message, authenticated by the office's own server."""
    return arrive(hub, message, ("Authentication-Results", results), ("Received", RECEIVED))


def cycle(hub: Hub) -> Cycle:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(STEP)
    return run_once(hub)


def new_case(hub: Hub, body: str = "The name on my Medicare card is misspelled. Can you help?",
             sender: str = f"Pat Example <{PAT}>", subject: str = "My Medicare card") -> Case:
    """A constituent writes; returns the case it opened (the acknowledgement and notice are sent)."""
    before = set(cases(hub))
    arrive(hub, mail(sender, OFFICE_ADDRESS, subject, body))
    cycle(hub)
    (opened,) = [case for ref, case in cases(hub).items() if ref not in before]
    return opened


def cases(hub: Hub) -> dict[str, Case]:
    with hub.sessions() as session:
        return {case.ref: case for case in session.scalars(select(Case).order_by(Case.id))}


def case_of(hub: Hub, ref: str) -> Case:
    with hub.sessions() as session:
        return session.scalars(select(Case).where(Case.ref == ref)).one()


def state(hub: Hub, ref: str) -> tuple[object, ...]:
    case = case_of(hub, ref)
    return tuple(getattr(case, name) for name in CASE_FIELDS)


def row_of(hub: Hub, message_id: str) -> Message:
    with hub.sessions() as session:
        return session.scalars(select(Message).where(Message.message_id == message_id)).one()


def events(hub: Hub, ref: str) -> list[Event]:
    with hub.sessions() as session:
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        return list(session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.id)))


def outbox(hub: Hub, ref: str) -> list[Outbox]:
    with hub.sessions() as session:
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        return list(session.scalars(select(Outbox).where(Outbox.case_id == case.id).order_by(Outbox.id)))


def subject(captured: CapturedMessage) -> str:
    # The stdlib folds a long Subject right after its colon; the unfolded value then starts with a space.
    return " ".join(str(captured.message["Subject"]).split())


def text_of(captured: CapturedMessage) -> str:
    return str(captured.message.get_content()).replace("\r\n", "\n")


def plus(hub: Hub, ref: str) -> str:
    reference = hub.refs.parse(ref)
    assert reference is not None
    return hub.refs.plus_address(OFFICE_ADDRESS, reference)


# ---------------------------------------------------------------------------------------------------
# 1. A case from intake to closing, by mail only


def test_a_caseworker_runs_a_case_from_intake_to_closing_by_mail(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    case = new_case(hub)
    ref = case.ref
    (notice,) = smtp.sent_to(MARIA)  # the intake address: the first staff member
    assert subject(notice) == f"[{ref}] New case from Pat Example"

    first = from_staff(hub, answer(notice, f"Maria Lopez <{MARIA}>",
                                   "#assign sam\n#agency ssa\n#label urgent\n#send privacy-release-request\n"))
    assert cycle(hub).inbox.fates == {"case": 1}
    (confirmation,) = smtp.sent_to(MARIA)[1:]
    assert subject(confirmation) == f"[{ref}] Done"
    text = text_of(confirmation)
    for line in ("- assigned to Sam Carter", "- agency set to Social Security Administration", "- labelled urgent",
                 f"- privacy-release-request queued for {PAT}"):
        assert line in text, text
    assert state(hub, ref) == ("open", SAM, "ssa", ["urgent"], None)
    (request,) = smtp.sent_to(PAT)[1:]
    assert subject(request).startswith(f"[{ref}] Your signature is needed")

    # The constituent sends the signed release back as a PDF.
    signed = answer(request, PAT, "Here is the signed form.")
    signed.add_attachment(b"%PDF-1.4 signed release", maintype="application", subtype="pdf",
                          filename="release.pdf")
    signed_id = arrive(hub, signed)
    assert cycle(hub).inbox.fates == {"case": 1}
    (attachment,) = row_of(hub, signed_id).attachments
    assert attachment.filename == "release.pdf"
    (told,) = smtp.sent_to(SAM)
    assert subject(told) == f"[{ref}] New message from Pat Example"
    body = told.message.get_body(("plain",))
    assert body is not None and "may be the signed privacy release: reply #release received" in body.get_content()

    second = from_staff(hub, answer(confirmation, MARIA,
                                    "#release received 2026-11-20\n#send agency-inquiry\n#followup 14d\n"))
    assert cycle(hub).outbox.counts == {"sent": 3}, "the inquiry, the confirmation, the calendar invitation"
    (invitation,) = [m for m in smtp.sent_to(MARIA)[2:] if "Follow-up on December 7, 2026" in subject(m)]
    (event,) = [part for part in invitation.message.iter_attachments() if part.get_content_type() == "text/calendar"]
    assert "DTSTART:20261207T140000Z" in event.get_content(), "09:00 in the office's zone (EST) on the day"
    (confirmation,) = [m for m in smtp.sent_to(MARIA)[2:] if m is not invitation]
    text = text_of(confirmation)
    assert (f"- privacy release on file (signed November 20, 2026)\n- agency-inquiry queued for {LIAISON}\n"
            "- follow-up on December 7, 2026") in text, text
    (inquiry,) = smtp.sent_to(LIAISON)
    assert case_of(hub, ref).status == "pending-agency", "an inquiry sent means waiting on the agency"

    # The agency answers the inquiry: the case is open again, and its caseworker hears of it.
    from_agency(hub, answer(inquiry, f"SSA Congressional Unit <{LIAISON}>",
                            "We need the constituent's current address."))
    assert cycle(hub).inbox.fates == {"case": 1}
    assert case_of(hub, ref).status == "open"
    assert subject(smtp.sent_to(SAM)[-1]) == f"[{ref}] Answer from SSA"
    assert "Answer due:" not in text_of(smtp.sent_to(SAM)[-1]), "the agency has answered: nothing is due from it"

    # A question to the constituent: relayed, and the case waits on the constituent.
    question = from_staff(hub, answer(confirmation, MARIA, "Pat, could you confirm your current mailing address?"))
    cycle(hub)
    relayed = smtp.sent_to(PAT)[-1]
    assert text_of(relayed).startswith("Pat, could you confirm your current mailing address?")
    assert "Maria Lopez" in text_of(relayed) and relayed.message["In-Reply-To"] == signed_id
    assert case_of(hub, ref).status == "pending-constituent"
    assert len(smtp.sent_to(MARIA)) == 4, "text without commands gets no confirmation"

    closing = from_staff(hub, answer(confirmation, MARIA, "#close resolved"))
    cycle(hub)
    assert "- closed (resolved)" in text_of(smtp.sent_to(MARIA)[-1])
    assert len(smtp.sent_to(PAT)) == 4, "acknowledgement, release request, the question, and now the closing letter"
    assert subject(smtp.sent_to(PAT)[-1]).endswith("We have closed your case: My Medicare card")

    # The case as it ends.
    assert state(hub, ref) == ("closed", SAM, "ssa", ["urgent"], "resolved")
    with hub.sessions() as session:
        (release,) = session.scalars(select(Release).where(Release.case_id == case.id))
        assert (release.signed_on, release.attachment_id, release.recorded_by, release.via) == (
            date(2026, 11, 20), attachment.id, MARIA, "mail")
        (reminder,) = session.scalars(select(Reminder).where(Reminder.case_id == case.id, Reminder.kind == "followup"))
        assert (reminder.kind, reminder.state, reminder.closed_by) == ("followup", "cancelled", "case closed")
        assert reminder.due_at.date() == date(2026, 12, 7)
        (queued,) = session.scalars(select(Outbox).where(Outbox.case_id == case.id, Outbox.letter == "agency-inquiry"))
        assert (queued.state, queued.actor) == ("sent", MARIA)

    # Every change is in the history: who, how, and from which of her messages.
    rows = {name: row_of(hub, message_id).id for name, message_id in (
        ("first", first), ("second", second), ("question", question), ("closing", closing))}
    expected = [("assigned", "first"), ("agency-set", "first"), ("labelled", "first"), ("letter-queued", "first"),
                ("release-received", "second"), ("letter-queued", "second"), ("followup-set", "second"),
                ("status", "question"), ("closed", "closing")]
    by_caseworker = [(event.kind, event.message_id, event.via) for event in events(hub, ref) if event.actor == MARIA
                     and event.kind not in ("message-received", "message-sent")]
    assert by_caseworker == [(kind, rows[name], "mail") for kind, name in expected]
    status = next(event for event in events(hub, ref) if event.message_id == rows["question"]
                  and event.kind == "status")
    assert status.detail == "open -> pending-constituent"


# ---------------------------------------------------------------------------------------------------
# 2. One bad line applies nothing


@pytest.mark.parametrize(("commands", "named"), [
    ("#assign sam\n#agency nosuch\n", "#agency nosuch: no agency with that key"),
    ("#assign sam\n#assign nobody\n", "#assign nobody: nobody on the staff answers to that name"),
    ("#assign sam\n#followup 2026-13-45\n", "#followup 2026-13-45: expected a number of days"),
    ("#assign sam\n#release received 2026-11-31\n", "#release received 2026-11-31: '2026-11-31' is not a date"),
    ("#assign sam\n#release received 2026-11-24\n", "release signed 2026-11-24: that date is in the future"),
    ("#assign sam\n#status closed\n", "#status closed: expected one of new, open"),
    ("#assign sam\n#followup 2026-11-01\n", "follow-up 2026-11-01: the date must be after today"),
    ("#assign sam\n#asign sam\n", "#asign: unknown command"),
], ids=["unknown agency", "unknown person", "not a date", "no such day", "signed tomorrow", "status closed",
        "follow-up in the past", "unknown command"])
def test_one_bad_line_applies_nothing_and_says_which(office: Hub, smtp: SmtpServer, commands: str,
                                                     named: str) -> None:
    hub = office
    ref = new_case(hub).ref
    before, history = state(hub, ref), len(events(hub, ref))
    (notice,) = smtp.sent_to(MARIA)
    message_id = from_staff(hub, answer(notice, MARIA, commands + "Hello Pat, we are on it."))
    assert cycle(hub).inbox.fates == {"case": 1}

    assert state(hub, ref) == before
    assert len(smtp.sent_to(PAT)) == 1 and len(smtp.sent_to(SAM)) == 0, "nothing relayed, nobody else told"
    (refusal,) = smtp.sent_to(MARIA)[1:]
    assert subject(refusal).startswith(f"[{ref}] Nothing was applied or sent")
    assert named in text_of(refusal), text_of(refusal)
    assert {row.letter for row in outbox(hub, ref)} == {"acknowledgement", "caseworker-notification", "command-reply"}
    added = [(event.kind, event.actor, event.via, event.message_id) for event in events(hub, ref)[history:]
             if event.kind not in ("message-received", "message-sent")]
    assert added == [("commands-refused", MARIA, "mail", row_of(hub, message_id).id)]


# ---------------------------------------------------------------------------------------------------
# 3. Forged commands change nothing and relay nothing

ATTACKER_PASSES = f"{SERVER}; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=evil.example"
FORGERIES = {
    # From the staff address, but the office's server does not vouch for it: Maria hears of it.
    "no authentication results": (MARIA, {}, [("Received", RECEIVED)], True),
    "dkim and spf fail": (MARIA, {}, [("Authentication-Results", f"{SERVER}; dkim=fail header.d=doe.example.gov; "
                                       "spf=fail smtp.mailfrom=doe.example.gov"), ("Received", RECEIVED)], True),
    "a pass for another domain": (MARIA, {}, [("Authentication-Results", ATTACKER_PASSES), ("Received", RECEIVED)],
                                  True),
    "a pass for a look-alike domain": (MARIA, {}, [("Authentication-Results", f"{SERVER}; dkim=pass "
                                                    "header.d=doe.example.gov.evil.example"), ("Received", RECEIVED)],
                                       True),
    "a pass only in a comment": (MARIA, {}, [("Authentication-Results", f"{SERVER}; dkim=fail (dkim=pass "
                                              "header.d=doe.example.gov) header.d=doe.example.gov"),
                                             ("Received", RECEIVED)], True),
    "results from another server": (MARIA, {}, [("Authentication-Results", STAFF_AUTHENTICATED.replace(
        SERVER, "mx.evil.example")), ("Received", RECEIVED)], True),
    "the right results below the Received line": (MARIA, {}, [("Received", RECEIVED), (
        "Authentication-Results", STAFF_AUTHENTICATED)], True),
    "two addresses in From": (f"{MARIA}, {ATTACKER}", {}, [("Authentication-Results", STAFF_AUTHENTICATED),
                                                           ("Received", RECEIVED)], True),
    "a second From header": (MARIA, {"From": ATTACKER}, [("Authentication-Results", STAFF_AUTHENTICATED),
                                                          ("Received", RECEIVED)], True),
    # From someone else: whatever the other headers say, it is not staff mail.
    "the staff address as display name": (f'"{MARIA}" <{ATTACKER}>', {}, [
        ("Authentication-Results", STAFF_AUTHENTICATED), ("Received", RECEIVED)], False),
    "the staff address as unquoted display name": (f"{MARIA} <{ATTACKER}>", {}, [
        ("Authentication-Results", STAFF_AUTHENTICATED), ("Received", RECEIVED)], False),
    "the staff address only in Reply-To": (ATTACKER, {"Reply-To": MARIA}, [
        ("Authentication-Results", STAFF_AUTHENTICATED), ("Received", RECEIVED)], False),
    "the staff address only in Sender": (ATTACKER, {"Sender": MARIA}, [
        ("Authentication-Results", STAFF_AUTHENTICATED), ("Received", RECEIVED)], False),
    "an outsider first in a two-address From": (f"{ATTACKER}, {MARIA}", {}, [
        ("Authentication-Results", STAFF_AUTHENTICATED), ("Received", RECEIVED)], False),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_commands_change_nothing_and_relay_nothing(office: Hub, smtp: SmtpServer, forgery: str) -> None:
    sender, headers, above, staff_from = FORGERIES[forgery]
    hub = office
    ref = new_case(hub).ref
    before = state(hub, ref)
    (notice,) = smtp.sent_to(MARIA)
    forged = answer(notice, sender, "#assign sam\n#agency va\n#close withdrawn\n#send privacy-release-request\n"
                    "Please reply with your bank account number so we can restore your payments.")
    head, blank, body = forged.as_bytes(policy=policy.SMTP).partition(b"\r\n\r\n")
    added = "".join(f"\r\n{name}: {value}" for name, value in headers.items()).encode()
    message_id = arrive(hub, head + added + blank + body, *above)  # below the sender's own headers
    cycle(hub)

    assert state(hub, ref) == before
    assert len(smtp.sent_to(PAT)) == 1, "only the acknowledgement: nothing relayed, no letter"
    assert smtp.sent_to(ATTACKER) == [] and smtp.sent_to(SAM) == []
    assert [row.recipient for row in outbox(hub, ref) if row.letter not in (
        "acknowledgement", "caseworker-notification")] == ([MARIA] if staff_from else [])
    kinds = [event.kind for event in events(hub, ref)]
    for kind in ("assigned", "agency-set", "closed", "letter-queued", "labelled"):
        assert kind not in kinds
    row = row_of(hub, message_id)
    if staff_from:
        (told,) = smtp.sent_to(MARIA)[1:]
        assert subject(told).startswith(f"[{ref}] Nothing was applied or sent")
        assert "could not be authenticated" in text_of(told)
        assert "What was refused:\n> #assign sam\n> #agency va\n> #close withdrawn\n" in text_of(told), \
            "the staff member sees what was tried in her name"
        assert "> Please reply with your bank account number" in text_of(told)
        assert (row.case_id, row.kind) == (case_of(hub, ref).id, "staff"), "kept on the case as a note"
        (kept,) = [event for event in events(hub, ref) if event.kind == "unauthenticated"]
        assert (kept.actor, kept.via, kept.message_id) == (MARIA, "mail", row.id)
    else:
        (held,) = smtp.sent_to(MARIA)[1:]  # she is the intake address too
        assert subject(held).startswith("In triage:"), "nothing about it to the staff member it pretends to be"
        assert (row.disposition, row.sender) == ("triage", ATTACKER), "held for a caseworker, not on the case"


# ---------------------------------------------------------------------------------------------------
# 4. Who gets a case: the office's assignment rules


def rule_assignments(hub: Hub, ref: str) -> list[tuple[str, str, str, int | None]]:
    return [(event.detail, event.actor, event.via, event.message_id) for event in events(hub, ref)
            if event.kind == "assigned"]


def test_portfolio_gives_a_case_to_whoever_carries_its_agency(tmp_path: Path, database_url: str,
                                                               smtp: SmtpServer) -> None:
    hub = open_office(tmp_path / "office", database_url, smtp, rules=("portfolio",))
    try:
        by_command = new_case(hub).ref
        assert case_of(hub, by_command).assignee is None, "no agency yet: the portfolio rule names nobody"
        (notice,) = smtp.sent_to(MARIA)
        message_id = from_staff(hub, answer(notice, MARIA, "#agency va"))
        cycle(hub)
        assert (case_of(hub, by_command).agency, case_of(hub, by_command).assignee) == ("va", SAM)
        assert "- agency set to Department of Veterans Affairs; assigned to Sam Carter (portfolio (va))" in text_of(
            smtp.sent_to(MARIA)[-1])
        assert rule_assignments(hub, by_command) == [
            (f"assigned to Sam Carter <{SAM}> by portfolio (va)", "hub", "rule", row_of(hub, message_id).id)]
        (agency_set,) = [event for event in events(hub, by_command) if event.kind == "agency-set"]
        assert (agency_set.actor, agency_set.via) == (MARIA, "mail")

        # An agency's answer sets the agency of a case that has none, and the portfolio rule follows.
        by_answer = new_case(hub, sender="lee@example.org", subject="My husband's SSI").ref
        assert case_of(hub, by_answer).assignee is None
        answered = from_agency(hub, mail(f"SSA Congressional Affairs <{LIAISON}>", OFFICE_ADDRESS,
                                    f"Re: [{by_answer}] Congressional inquiry", "We have opened a file."))
        assert cycle(hub).inbox.fates == {"case": 1}
        assert (case_of(hub, by_answer).agency, case_of(hub, by_answer).assignee) == ("ssa", MARIA)
        assert rule_assignments(hub, by_answer) == [
            (f"assigned to Maria Lopez <{MARIA}> by portfolio (ssa)", "hub", "rule", row_of(hub, answered).id)]
        vet = new_case(hub, sender="vet@example.org", subject="My GI Bill").ref
        from_agency(hub, mail(f"VA Liaison <{VA_LIAISON}>", OFFICE_ADDRESS, f"Re: [{vet}] Inquiry", "Received."))
        cycle(hub)
        assert (case_of(hub, vet).agency, case_of(hub, vet).assignee) == ("va", SAM)
    finally:
        hub.close()


def test_weekday_duty_takes_the_cases_opened_that_day(tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    hub = open_office(tmp_path / "office", database_url, smtp, rules=("portfolio", "weekday"),
                      weekdays={"monday": "sam"})
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    try:
        monday = new_case(hub).ref  # Monday 23 November, 9 a.m. in New York
        assert case_of(hub, monday).assignee == SAM, "no agency for the portfolio rule; Monday duty is Sam's"
        assert rule_assignments(hub, monday) == [
            (f"assigned to Sam Carter <{SAM}> by intake duty on Monday", "hub", "rule", None)]
        (notice,) = smtp.sent_to(SAM)
        assert subject(notice) == f"[{monday}] New case from Pat Example"
        assert smtp.sent_to(MARIA) == []

        clock.advance(timedelta(hours=13) - STEP)  # 03:00 UTC on Tuesday: still Monday evening in the office
        late = new_case(hub, sender="lee@example.org").ref
        assert case_of(hub, late).assignee == SAM
        clock.advance(timedelta(hours=12) - STEP)  # Tuesday: nobody on duty
        tuesday = new_case(hub, sender="kim@example.org").ref
        assert case_of(hub, tuesday).assignee is None and rule_assignments(hub, tuesday) == []
        (unassigned,) = smtp.sent_to(MARIA)
        assert subject(unassigned) == f"[{tuesday}] New case from kim@example.org", "to the intake address"
    finally:
        hub.close()


def test_fewest_open_cases_balances_the_load(tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    hub = open_office(tmp_path / "office", database_url, smtp, rules=("fewest-open",))
    try:
        first = new_case(hub, sender="a@example.org").ref
        second = new_case(hub, sender="b@example.org").ref
        assert [case_of(hub, ref).assignee for ref in (first, second)] == [MARIA, SAM]
        assert rule_assignments(hub, second) == [
            (f"assigned to Sam Carter <{SAM}> by fewest open cases", "hub", "rule", None)]
        (notice,) = smtp.sent_to(MARIA)
        from_staff(hub, answer(notice, MARIA, "#close resolved"))
        cycle(hub)
        assert case_of(hub, first).status == "closed"
        third = new_case(hub, sender="c@example.org").ref
        fourth = new_case(hub, sender="d@example.org").ref
        assert [case_of(hub, ref).assignee for ref in (third, fourth)] == [MARIA, MARIA], \
            "a closed case does not count: Maria had none open, then one like Sam"
        fifth = new_case(hub, sender="e@example.org").ref
        assert case_of(hub, fifth).assignee == SAM
    finally:
        hub.close()


def test_without_rules_cases_stay_with_the_intake_address(tmp_path: Path, database_url: str,
                                                          smtp: SmtpServer) -> None:
    intake = "intake@doe.example.gov"
    hub = open_office(tmp_path / "office", database_url, smtp, intake_address=intake)
    try:
        ref = new_case(hub).ref
        (notice,) = smtp.sent_to(intake)
        assert subject(notice) == f"[{ref}] New case from Pat Example"
        assert smtp.sent_to(MARIA) == [] and smtp.sent_to(SAM) == []
        from_staff(hub, answer(notice, MARIA, "#agency va"))
        cycle(hub)
        from_agency(hub, mail(f"VA Liaison <{VA_LIAISON}>", OFFICE_ADDRESS, f"Re: [{ref}] Inquiry", "Received."))
        cycle(hub)
        assert (case_of(hub, ref).agency, case_of(hub, ref).assignee) == ("va", None)
        assert rule_assignments(hub, ref) == []
        assert subject(smtp.sent_to(intake)[-1]) == f"[{ref}] Answer from VA"
        assert smtp.sent_to(SAM) == []
    finally:
        hub.close()


# ---------------------------------------------------------------------------------------------------
# 5. The privacy release gates the agency inquiry


def command(hub: Hub, smtp: SmtpServer, ref: str, text: str) -> tuple[CapturedMessage, int]:
    """Maria sends commands on the case; returns her confirmation (it answers her message) and her message's row id."""
    mine = len(smtp.sent_to(MARIA))
    message_id = from_staff(hub, mail(f"Maria Lopez <{MARIA}>", plus(hub, ref), f"Re: [{ref}]", text))
    cycle(hub)
    (reply,) = [sent for sent in smtp.sent_to(MARIA)[mine:] if sent.message["In-Reply-To"] == message_id]
    return reply, row_of(hub, message_id).id


def test_an_agency_inquiry_needs_a_release_the_agency_accepts(tmp_path: Path, database_url: str,
                                                               smtp: SmtpServer) -> None:
    hub = open_office(tmp_path / "office", database_url, smtp, ssa_release_valid_days=120)
    try:
        ref = new_case(hub).ref
        reply, _ = command(hub, smtp, ref, "#agency ssa\n#send agency-inquiry")
        assert subject(reply).startswith(f"[{ref}] Nothing was applied or sent")
        assert "agency-inquiry not sent: no signed privacy release is on file" in text_of(reply)
        assert case_of(hub, ref).agency is None, "the #agency line went with the refused #send"
        assert "agency-inquiry" not in {row.letter for row in outbox(hub, ref)}

        reply, _ = command(hub, smtp, ref, "#agency ssa\n#release received 2026-05-07")  # 200 days ago
        assert subject(reply).startswith(f"[{ref}] Done")
        reply, _ = command(hub, smtp, ref, "#send agency-inquiry")
        assert subject(reply).startswith(f"[{ref}] Nothing was applied or sent")
        assert ("the release on file was signed 2026-05-07; Social Security Administration needs one signed within "
                "120 days") in text_of(reply)
        assert "agency-inquiry" not in {row.letter for row in outbox(hub, ref)}
        assert smtp.sent_to(LIAISON) == []

        reply, row_id = command(hub, smtp, ref, "#send agency-inquiry force")
        assert f"- agency-inquiry queued for {LIAISON} (forced)" in text_of(reply)
        (overridden,) = [event for event in events(hub, ref) if event.kind == "release-overridden"]
        assert (overridden.actor, overridden.via, overridden.message_id) == (MARIA, "mail", row_id)
        assert "signed 2026-05-07" in overridden.detail
        (inquiry,) = smtp.sent_to(LIAISON)
        assert inquiry.message["Auto-Submitted"] is None

        # A release the agency accepts: the inquiry goes, nothing overridden. Its limit counts whole days.
        fresh = new_case(hub, sender="lee@example.org").ref
        reply, _ = command(hub, smtp, fresh, "#agency ssa\n#release received 2026-07-25\n#send agency-inquiry")
        assert "needs one signed within 120 days" in text_of(reply), "121 days old"
        reply, _ = command(hub, smtp, fresh, "#agency ssa\n#release received 2026-07-26\n#send agency-inquiry")
        assert f"- agency-inquiry queued for {LIAISON}" in text_of(reply) and "forced" not in text_of(reply)
        assert [event.kind for event in events(hub, fresh)].count("release-received") == 1
        assert "release-overridden" not in [event.kind for event in events(hub, fresh)]
        assert len(smtp.sent_to(LIAISON)) == 2
        with hub.sessions() as session:
            (release,) = session.scalars(select(Release).where(Release.case_id == case_of(hub, fresh).id))
            assert release.signed_on == date(2026, 7, 26) and release.attachment_id is None
    finally:
        hub.close()


# ---------------------------------------------------------------------------------------------------
# 6. An urgent first message


def test_an_urgent_first_message_is_labelled_and_the_notice_says_why(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    urgent = new_case(hub, subject="Passport", body="Hello,\n\nMy flight to Mexico is on December 1 and my "
                      "passport has not arrived. Please help.\n\nPat").ref
    reason = "passport: travel on December 1, 2026 (in 8 days)"
    assert case_of(hub, urgent).labels == ["urgent"]
    (labelled,) = [event for event in events(hub, urgent) if event.kind == "labelled"]
    assert (labelled.detail, labelled.actor, labelled.via) == (f"urgent: {reason}", "hub", "rule")
    (notice,) = smtp.sent_to(MARIA)
    assert subject(notice) == f"[{urgent}] New URGENT case from Pat Example"
    assert f"\nNew URGENT case from Pat Example\n\nUrgent: {reason}.\n" in text_of(notice), "why, in the body"

    calm = new_case(hub, sender="lee@example.org", subject="Passport",
                    body="My passport has not arrived. I travelled last year.").ref
    assert case_of(hub, calm).labels == []
    assert "labelled" not in [event.kind for event in events(hub, calm)]
    assert subject(smtp.sent_to(MARIA)[-1]) == f"[{calm}] New case from lee@example.org"


# ---------------------------------------------------------------------------------------------------
# 7. #help


def test_help_mails_the_commands_back(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    before = state(hub, ref)
    reply, _ = command(hub, smtp, ref, "#help")
    assert subject(reply).startswith(f"[{ref}] Done")
    text = text_of(reply)
    assert len(help_lines()) == 19
    for line in help_lines():
        assert line in text, line
    for name in ("assign", "agency", "label", "unlabel", "status", "close", "reopen", "followup", "note", "to", "send",
                 "release", "attach", "merge", "contact", "channel", "person", "help"):
        assert f"\n#{name} " in text
    assert state(hub, ref) == before and len(smtp.sent_to(PAT)) == 1


# ---------------------------------------------------------------------------------------------------
# 8. The same actions from the command line


def test_the_command_line_runs_the_same_actions(office: Hub, smtp: SmtpServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    hub = office
    by_mail = new_case(hub).ref
    command(hub, smtp, by_mail, "#assign sam")
    ref = new_case(hub, sender="lee@example.org").ref
    capsys.readouterr()
    config = str(hub.config.path)

    assert hub_cli(["--config", config, "case", "assign", ref, "sam"]) == 0
    assert capsys.readouterr().out == f"{ref}: assigned to Sam Carter\n"
    assert hub_cli(["--config", config, "case", "close", ref, "withdrawn-ish"]) == 1
    assert "#close withdrawn-ish: expected one of resolved, referred" in capsys.readouterr().err
    assert hub_cli(["--config", config, "case", "status", ref, "closed"]) == 1
    assert state(hub, ref) == ("open", SAM, None, [], None), "a refused action changes nothing"
    assert hub_cli(["--config", config, "case", "close", ref, "resolved"]) == 0
    assert capsys.readouterr().out == f"{ref}: closed (resolved)\n"

    assert state(hub, ref) == ("closed", SAM, None, [], "resolved")
    changes = [(event.kind, event.detail, event.actor, event.via, event.message_id) for event in events(hub, ref)
               if event.kind in ("assigned", "closed")]
    assert changes == [("assigned", f"assigned to Sam Carter <{SAM}>", "cli", "cli", None),
                       ("closed", "resolved", "cli", "cli", None)]
    (mailed,) = [event for event in events(hub, by_mail) if event.kind == "assigned"]
    assert (mailed.detail, mailed.via) == (changes[0][1], "mail"), "the same action, recorded the same way"


# ---------------------------------------------------------------------------------------------------
# Text for the agency, and a closed case's status


def test_text_for_the_agency_goes_to_the_agency_the_message_leaves_the_case_with(
        tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    hub = open_office(tmp_path / "office", database_url, smtp, rules=("portfolio",))
    try:
        # No agency yet: the #agency line of the same message names it.
        first = new_case(hub).ref
        reply, _ = command(hub, smtp, first, "#agency ssa\n#to agency\nPlease expedite this request.")
        assert subject(reply).startswith(f"[{first}] Done"), text_of(reply)
        (relayed,) = smtp.sent_to(LIAISON)
        assert text_of(relayed).startswith("Please expedite this request.")
        assert case_of(hub, first).status == "pending-agency"

        # Another agency: the text goes to the new one, never to the one the case is leaving.
        moved = new_case(hub, sender="lee@example.org").ref
        command(hub, smtp, moved, "#agency ssa")
        reply, _ = command(hub, smtp, moved, "#agency va\n#to agency\nPlease look into this claim.")
        assert "- your text goes to the agency" in text_of(reply)
        assert [text_of(m).split("\n")[0] for m in smtp.sent_to(VA_LIAISON)] == ["Please look into this claim."]
        assert len(smtp.sent_to(LIAISON)) == 1

        # `#to KEY` on a case without an agency sets it, and the assignment rules follow as for #agency.
        direct = new_case(hub, sender="kim@example.org").ref
        reply, row_id = command(hub, smtp, direct, "#to va\nPlease look into this claim too.")
        assert (case_of(hub, direct).agency, case_of(hub, direct).assignee) == ("va", SAM)
        assert rule_assignments(hub, direct) == [
            (f"assigned to Sam Carter <{SAM}> by portfolio (va)", "hub", "rule", row_id)]
        assert len(smtp.sent_to(VA_LIAISON)) == 2

        reply, _ = command(hub, smtp, direct, "#to nosuch\nHello")
        assert "#to nosuch: expected constituent, agency or an agency key" in text_of(reply)
        assert "has no agency yet" not in text_of(reply)
    finally:
        hub.close()


def test_a_closed_case_takes_a_status_only_once_reopened(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    command(hub, smtp, ref, "#close resolved")
    reply, _ = command(hub, smtp, ref, "#status open")
    assert subject(reply).startswith(f"[{ref}] Nothing was applied or sent")
    assert "the case is closed; reopen it first (#reopen)" in text_of(reply)
    assert state(hub, ref)[::4] == ("closed", "resolved")
    reply, _ = command(hub, smtp, ref, "#reopen\n#status pending-agency")
    assert "- reopened\n- status pending-agency" in text_of(reply)
    case = case_of(hub, ref)
    assert (case.status, case.close_reason, case.closed_at) == ("pending-agency", None, None)


def test_a_release_is_dated_by_the_office_calendar(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(hours=11) - 2 * STEP)  # 01:00 UTC on the 24th: 8 p.m. on the 23rd in New York
    reply, _ = command(hub, smtp, ref, "#release received 2026-11-24")
    assert "release signed 2026-11-24: that date is in the future" in text_of(reply)
    reply, _ = command(hub, smtp, ref, "#release received")
    assert "- privacy release on file (signed November 23, 2026)" in text_of(reply)
    with hub.sessions() as session:
        (release,) = session.scalars(select(Release).where(Release.case_id == case_of(hub, ref).id))
        assert (release.signed_on, release.received_on) == (date(2026, 11, 23), date(2026, 11, 23))


def test_a_note_stays_on_the_case_and_a_replayed_message_acts_once(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    command(hub, smtp, ref, "#label vip")
    note = mail(MARIA, plus(hub, ref), f"Re: [{ref}]", "#note called Pat\n#unlabel vip\n#followup 2w\n"
                "Pat says the new card also has the wrong name.")
    raw = note.as_bytes(policy=policy.SMTP)
    from_staff(hub, raw)
    from_staff(hub, raw)  # the same message twice, e.g. a retried delivery
    assert cycle(hub).inbox.fates == {"case": 1, "duplicate": 1}
    assert len(smtp.sent_to(PAT)) == 1, "a note is not sent to anyone"
    (reply,) = [sent for sent in smtp.sent_to(MARIA)[2:] if "follow-up" not in subject(sent).lower()]
    assert "- note kept on the case\n- label vip removed\n- follow-up on December 7, 2026" in text_of(reply)
    assert case_of(hub, ref).labels == []
    kinds = [event.kind for event in events(hub, ref)]
    assert (kinds.count("note"), kinds.count("unlabelled"), kinds.count("followup-set")) == (1, 1, 1)
    (noted,) = [event for event in events(hub, ref) if event.kind == "note"]
    assert noted.detail == "called Pat"

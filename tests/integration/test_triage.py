"""Triage is a queue people work: each held message is told to the intake address once, with the cases it likely
belongs to; a caseworker places it by replying (#case REF, #new, #dismiss REASON) or from the command line, and
every weekday morning the intake address gets what still waits. Against a real SMTP server (aiosmtpd), on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.cli.case_actions import run_action
from hub.cli.main import main as hub_cli
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.models import Event, Message, Outbox, Reminder
from hub.run.status import status_lines
from tests.helpers import OFFICE_ADDRESS, START, make_office
from tests.integration.test_commands import (
    LIAISON,
    MARIA,
    VA_LIAISON,
    answer,
    arrive,
    case_of,
    cycle,
    from_agency,
    from_staff,
    mail,
    new_case,
    subject,
    text_of,
)
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration

CONTROL = r"Control\s+No\.?\s*:?\s*([0-9]{4}-[A-Z]{2}-[0-9A-Z-]+)"
STRANGER = "lee.stranger@example.org"


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    """An office sending through `smtp`; SSA quotes its control number as "Control No. 2026-CI-01234"."""
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(),
                      agencies={"ssa": {"liaison": LIAISON, "control_number": CONTROL},
                                "va": {"liaison": VA_LIAISON}})
    yield hub
    hub.close()


def auto_reply(sender: str, title: str) -> EmailMessage:
    message = mail(sender, OFFICE_ADDRESS, title, "I am away.")
    message["Auto-Submitted"] = "auto-replied"
    return message


def by_subject(hub: Hub) -> dict[str, int]:
    """The ids of the held messages, by their subjects."""
    return {row.subject: row.id for row in held(hub)}


def triage_notices(smtp: SmtpServer) -> list[CapturedMessage]:
    return [m for m in smtp.sent_to(MARIA) if subject(m).startswith("In triage")]


def held(hub: Hub) -> list[Message]:
    with hub.sessions() as session:
        return list(session.scalars(select(Message).where(Message.disposition == "triage").order_by(Message.id)))


def cli(hub: Hub, *words: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = hub_cli(["--config", str(hub.config.path), *words])
    out, err = capsys.readouterr()
    return code, out, err


def case_waiting_on_ssa(hub: Hub) -> str:
    """Pat's case, its inquiry sent to SSA: a follow-up is pending."""
    ref = new_case(hub).ref
    run_action(hub, ref, "agency", "ssa")
    letter_send.send(hub, "agency-inquiry", ref, None, force=True)
    cycle(hub)
    assert pending_followups(hub, ref) == 1
    return ref


def pending_followups(hub: Hub, ref: str) -> int:
    return len([r for r in followups(hub, ref) if r.state == "pending"])


def followups(hub: Hub, ref: str) -> list[Reminder]:
    with hub.sessions() as session:
        return list(session.scalars(select(Reminder).where(Reminder.case_id == case_of(hub, ref).id,
                                                           Reminder.kind == "agency-followup")
                                    .order_by(Reminder.id)))


def answered(hub: Hub, ref: str) -> bool:
    """The first follow-up was cancelled because the agency answered (and the next update is expected)."""
    first, *rest = followups(hub, ref)
    return first.state == "cancelled" and [r.state for r in rest] == ["pending"]


def ssa_answer_without_reference(hub: Hub) -> str:
    return from_agency(hub, mail(f"SSA Liaison <{LIAISON}>", OFFICE_ADDRESS, "Congressional inquiry",
                                 "Control No. 2026-CI-01234\nWe reviewed the claim of Pat Example and approved it."))


def test_an_agency_answer_without_reference_is_told_once_and_a_reply_files_it_with_every_effect(
        office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = case_waiting_on_ssa(hub)
    before = len(smtp.sent_to(MARIA))

    ssa_answer_without_reference(hub)
    assert cycle(hub).inbox.fates == {"triage": 1}
    (notice,) = smtp.sent_to(MARIA)[before:]
    assert subject(notice) == "In triage: Congressional inquiry"
    text = text_of(notice)
    for line in ("Why it is there: agency mail with no case reference", f"From:     SSA Liaison <{LIAISON}>",
                 "We reviewed the claim of Pat Example and approved it.", "Likely cases:", "#case REF", "#new",
                 "#dismiss REASON"):
        assert line in text, text
    (likely,) = [line for line in text.splitlines() if line.startswith(f"- {ref}")]
    assert "Pat Example" in likely and "the message names its constituent" in likely
    assert cycle(hub).outbox.counts == {}, "one notice, never again"

    from_staff(hub, answer(notice, f"Maria Lopez <{MARIA}>", f"#case {ref}\n"))
    assert cycle(hub).inbox.fates == {"command": 1}
    assert held(hub) == []
    (done,) = [m for m in smtp.sent_to(MARIA)[before + 1:] if "triage item" in subject(m)]
    assert subject(done).startswith(f"[{ref}] Done: triage item")
    assert f"filed on {ref}" in text_of(done)
    # Every effect the answer would have had with the reference in its subject:
    assert answered(hub, ref), "the follow-up is cancelled"
    case = case_of(hub, ref)
    assert case.status == "open" and case.agency_control == "2026-CI-01234"
    with hub.sessions() as session:
        (answer_row,) = session.scalars(select(Message).where(Message.case_id == case.id, Message.kind == "agency"))
        assert answer_row.disposition == "case" and answer_row.reason.startswith(f"filed from triage on {ref} by")
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.case_id == case.id))]
        assert "message-filed" in kinds and "agency-control-number" in kinds
    (told,) = [m for m in smtp.sent_to(MARIA) if subject(m) == f"[{ref}] Answer from SSA"]
    assert "We reviewed the claim" in text_of(told)


@pytest.mark.parametrize("results", [None, "mx.doe.example.gov; dkim=fail header.d=doe.example.gov; "
                                           "spf=fail smtp.mailfrom=doe.example.gov",
                                     "mx.forger.example; dkim=pass header.d=doe.example.gov"])
def test_a_forged_reply_to_a_triage_notice_files_nothing(office: Hub, smtp: SmtpServer, results: str | None) -> None:
    hub = office
    ref = case_waiting_on_ssa(hub)
    ssa_answer_without_reference(hub)
    cycle(hub)
    (notice,) = triage_notices(smtp)

    forged = answer(notice, f"Maria Lopez <{MARIA}>", f"#case {ref}\n")
    if results is None:
        arrive(hub, forged)
    else:
        from_staff(hub, forged, results)
    assert cycle(hub).inbox.fates == {"command": 1}

    assert len(held(hub)) == 1 and not answered(hub, ref), "nothing was filed"
    (refused,) = [m for m in smtp.sent_to(MARIA) if "triage item" in subject(m)]
    assert subject(refused).startswith("Nothing was applied: triage item")
    assert "could not be authenticated" in text_of(refused)
    assert f"What was refused:\n> #case {ref}" in text_of(refused), "she sees what was tried in her name"


def test_a_reply_opens_a_new_case_or_dismisses_and_mistakes_are_refused(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    # Someone who is not a party forwards Pat's reference: held, so that Pat's file does not leak.
    arrive(hub, mail(f"Lee Stranger <{STRANGER}>", OFFICE_ADDRESS, f"Fwd: [{ref}] My Medicare card",
                     "My neighbour's problem is mine too: my card is wrong as well."))
    cycle(hub)
    from_agency(hub, mail(f"VA Liaison <{VA_LIAISON}>", OFFICE_ADDRESS, "Newsletter", "Our quarterly newsletter."))
    cycle(hub)
    stranger_notice, newsletter_notice = triage_notices(smtp)
    assert len(held(hub)) == 2
    assert f"sender is not a party on {ref}" in text_of(stranger_notice)

    from_staff(hub, answer(stranger_notice, MARIA, "#case CW-26-99999-ZZ\n"))
    from_staff(hub, answer(newsletter_notice, MARIA, "#dismiss\n"))
    cycle(hub)
    refusals = [m for m in smtp.sent_to(MARIA) if subject(m).startswith("Nothing was applied")]
    assert len(refusals) == 2 and len(held(hub)) == 2
    assert any("no case 'CW-26-99999-ZZ'" in text_of(m) for m in refusals)
    assert any("#dismiss needs a reason" in text_of(m) and "What was refused:\n> #dismiss" in text_of(m)
               for m in refusals)

    from_staff(hub, answer(stranger_notice, MARIA, "#new\n"))
    from_staff(hub, answer(newsletter_notice, MARIA, "#dismiss a newsletter, not casework\n"))
    assert cycle(hub).inbox.fates == {"command": 2}
    assert held(hub) == []
    (acknowledgement,) = smtp.sent_to(STRANGER)
    opened = subject(acknowledgement).split("]")[0].lstrip("[")
    assert opened != ref and case_of(hub, opened).status == "new"
    done = [text_of(m) for m in smtp.sent_to(MARIA) if subject(m).startswith(("Done", f"[{opened}] Done"))]
    assert any(f"new case {opened} for {STRANGER}" in t for t in done)
    assert any("dismissed: a newsletter, not casework" in t for t in done)

    # Once placed, a second answer is told so.
    from_staff(hub, answer(newsletter_notice, MARIA, "#new\n"))
    cycle(hub)
    last = [m for m in smtp.sent_to(MARIA) if subject(m).startswith("Nothing was applied")][-1]
    assert "was already dismissed: a newsletter, not casework" in text_of(last)


def test_the_command_line_works_the_queue(office: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    hub = office
    ref = case_waiting_on_ssa(hub)
    ssa_answer_without_reference(hub)
    cycle(hub)
    arrive(hub, mail(f"Lee Stranger <{STRANGER}>", OFFICE_ADDRESS, f"Fwd: [{ref}] My Medicare card", "Me too."))
    cycle(hub)
    arrive(hub, mail(f"Lee Stranger <{STRANGER}>", OFFICE_ADDRESS, f"Fwd: [{ref}] again", "Spam."))
    cycle(hub)
    answer_id, forward_id, spam_id = [row.id for row in held(hub)]

    code, out, _ = cli(hub, "triage", "list", "--json", capsys=capsys)
    assert code == 0 and [item["id"] for item in json.loads(out)] == [answer_id, forward_id, spam_id]
    code, out, _ = cli(hub, "triage", "show", str(answer_id), capsys=capsys)
    assert code == 0 and f"triage item {answer_id}: waiting" in out and ref in out and "approved it" in out

    for words, error in ((("show", "9999"), "hub: no triage item 9999"),
                         (("file", str(answer_id), "CW-26-99999-ZZ"), "hub: no case 'CW-26-99999-ZZ'"),
                         (("file", "9999", ref), "hub: no triage item 9999")):
        code, out, err = cli(hub, "triage", *words, capsys=capsys)
        assert (code, out, len(err.splitlines())) == (1, "", 1) and err.startswith(error), (words, err)

    code, out, _ = cli(hub, "triage", "file", str(answer_id), ref, capsys=capsys)
    assert (code, out.strip()) == (0, f"triage item {answer_id} filed on {ref}")
    assert answered(hub, ref)
    code, out, _ = cli(hub, "triage", "new", str(forward_id), capsys=capsys)
    assert code == 0 and out.startswith(f"triage item {forward_id}: new case ")
    code, out, _ = cli(hub, "triage", "dismiss", str(spam_id), "spam", "again", capsys=capsys)
    assert (code, out.strip()) == (0, f"triage item {spam_id} dismissed: spam again")

    code, out, err = cli(hub, "triage", "dismiss", str(answer_id), "late", capsys=capsys)
    assert code == 1 and out == "" and err.startswith(f"hub: triage item {answer_id} was already filed from triage "
                                                      f"on {ref} by cli") and len(err.splitlines()) == 1
    code, out, _ = cli(hub, "triage", "list", capsys=capsys)
    assert out.strip() == "triage is empty"
    assert "triage: 0 waiting for a caseworker" in status_lines(hub)
    code, out, _ = cli(hub, "triage", "show", str(spam_id), capsys=capsys)
    assert code == 0 and f"triage item {spam_id}: dismissed" in out
    with hub.sessions() as session:  # queued at the command line's own time, sent by the daemon
        assert session.scalars(select(Outbox.letter).where(Outbox.recipient == STRANGER)).all() == ["acknowledgement"]


def test_automatic_mail_is_not_told_and_a_flood_gives_a_few_notices_and_one_digest(
        office: Hub, smtp: SmtpServer) -> None:
    hub = office
    for n in range(3):  # auto-replies about nothing of ours
        arrive(hub, auto_reply("robot@example.net", f"Out of office {n}"))
    for n in range(9):  # a forger's flood of unauthenticated "agency" mail
        arrive(hub, mail(f"SSA <{LIAISON}>", OFFICE_ADDRESS, f"Urgent {n}", "Click here."))
    assert cycle(hub).inbox.fates == {"triage": 12}
    to_intake = smtp.sent_to(MARIA)
    assert len(triage_notices(smtp)) == 5, "[limits] notices_per_sender"
    assert not [m for m in to_intake if "Out of office" in subject(m)]
    assert cycle(hub) and len(smtp.sent_to(MARIA)) == len(to_intake)
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(minutes=60))
    cycle(hub)
    (digest,) = smtp.sent_to(MARIA)[len(to_intake):]
    assert subject(digest) == f"4 more messages from {LIAISON} are waiting in triage"
    assert "unauthenticated agency mail" in text_of(digest)


def test_each_weekday_morning_the_intake_address_gets_what_still_waits(
        tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    # START is Monday 23 November 2026, 09:00 in New York: the list of that morning is already due.
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    cycle(hub)
    assert smtp.sent_to(MARIA) == [], "nothing waits: no list"
    arrive(hub, auto_reply(f"Lee Stranger <{STRANGER}>", "First"))
    cycle(hub)
    arrive(hub, mail("SSA <liaison@ssa.gov>", OFFICE_ADDRESS, "Second", "Two."))
    cycle(hub)
    waiting = by_subject(hub)
    assert len(waiting) == 2 and len(smtp.sent_to(MARIA)) == 1, "one notice; the auto-reply had none"
    cycle(hub)
    assert len(smtp.sent_to(MARIA)) == 1, "what came after this morning's list waits for tomorrow's"

    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(START.replace(day=24, hour=13, minute=50) - clock.now())  # Tuesday 08:50 in New York
    cycle(hub)  # 09:01
    (first,) = [m for m in smtp.sent_to(MARIA) if subject(m).startswith("Triage:")]
    assert subject(first) == "Triage: 2 messages waiting (November 24, 2026)"
    text = text_of(first)
    assert text.index("First") < text.index("Second"), "oldest first"
    hub.close()
    hub = open_hub(hub.config.path, clock)  # a restart the same day sends it no second time
    cycle(hub)
    assert len([m for m in smtp.sent_to(MARIA) if subject(m).startswith("Triage:")]) == 1

    with hub.sessions.begin() as session:
        session.get_one(Message, waiting["First"]).disposition = "dismissed"
    clock.advance(timedelta(days=4) - timedelta(minutes=11))  # Saturday 09:01: no list at the weekend
    cycle(hub)
    clock.advance(timedelta(days=1))  # Sunday
    cycle(hub)
    assert len([m for m in smtp.sent_to(MARIA) if subject(m).startswith("Triage:")]) == 1
    clock.advance(timedelta(days=1))  # Monday
    cycle(hub)
    lists = [m for m in smtp.sent_to(MARIA) if subject(m).startswith("Triage:")]
    assert len(lists) == 2 and subject(lists[1]) == "Triage: 1 message waiting (November 30, 2026)"
    with hub.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.letter == "triage-digest")).all()
        assert len(rows) == 2 and all(row.case_id is None for row in rows)
    hub.close()


def test_no_triage_list_on_a_federal_holiday_and_the_next_days_has_what_waits(
        tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    # START is Monday 23 November 2026, 09:00 in New York; Thursday the 26th is Thanksgiving.
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    arrive(hub, mail("SSA <liaison@ssa.gov>", OFFICE_ADDRESS, "Waiting", "One."))
    cycle(hub)
    cycle(hub)

    def lists() -> list[str]:
        return [subject(m) for m in smtp.sent_to(MARIA) if subject(m).startswith("Triage:")]

    assert lists() == [], "it came after this morning's list"
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(START.replace(day=26, hour=14, minute=1) - clock.now())  # Thanksgiving, 09:01 in New York
    cycle(hub)
    assert lists() == [], "nobody is in the office to read it"
    clock.advance(timedelta(days=1))
    cycle(hub)
    assert lists() == ["Triage: 1 message waiting (November 27, 2026)"]
    hub.close()

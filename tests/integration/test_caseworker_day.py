"""A caseworker's day, start to finish, as README's "A day, start to finish" walks it: every message reaches the
office's inbox on a private Dovecot (IMAP), staff and agency mail stamped by the office's receiving server as
genuine, and every message the hub sends goes through a real SMTP server (aiosmtpd); on SQLite and PostgreSQL.

Each step asserts what Maria sees in her mail client, and what the others get: who received what, in what
order, exactly once. The steps cover every item of issue 15: the agency inquiry carries the release and its
date; notices carry the constituent's files, `hub case show`/`hub case files` list and write them, `#to
agency` forwards the files of her reply and `#attach` those on the case; a reply to a closed case reopens it;
an agency answer without our reference is told to the intake address and filed by `#case REF` with every
effect; an archive import sends nothing; a case's notices are one thread with short subjects; her sign-off is
not doubled, her text goes before the letter it announces, `#close` with text is one letter, a forged command
is refused with what was refused quoted, "Answer due" goes once the agency answered, `hub case show` speaks
the office's time; `hub search`, `#mycases` and the Monday digest find her cases.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases.due_dates import AGENCY_FOLLOWUP
from hub.core.app import Hub
from hub.core.clock import FixedClock, local_moment
from hub.core.models import Case, Outbox, Reminder
from tests.helpers import OFFICE_ADDRESS, tally
from tests.integration.test_archive_import import archive_of
from tests.integration.test_caseworker_digest import digests, run_at, sections
from tests.integration.test_commands import (
    LIAISON,
    MARIA,
    PAT,
    RECEIVED,
    answer,
    arrive,
    case_of,
    cycle,
    from_agency,
    from_staff,
    mail,
    open_office,
    subject,
)
from tests.integration.test_imap import folder_counts
from tests.integration.test_list_requests import ask
from tests.integration.test_notice_files import files_of
from tests.integration.test_notice_threads import COMMANDS
from tests.integration.test_reply_relays import body_of, with_files
from tests.integration.test_search import found
from tests.integration.test_staff_replies import outlook
from tests.integration.test_triage import CONTROL, answered, cli
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration

SUNDAY, MONDAY = date(2026, 11, 22), date(2026, 11, 23)
ANNA = "anna.kowalski@example.net"
AWARD = b"%PDF-1.4 award letter " + b"a" * 1500
RELEASE = b"%PDF-1.4 signed Privacy Act release " + b"r" * 1500
CALL_NOTES = b"%PDF-1.4 notes of the call with Pat " + b"n" * 500


@pytest.fixture
def office(tmp_path: Path, database_url: str, dovecot: DovecotServer, smtp: SmtpServer,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """The office reading its inbox from the private Dovecot and sending through aiosmtpd, with the caseworkers'
    Monday digest on, and SSA quoting its control numbers as "Control No. 2026-CI-01234"."""
    monkeypatch.setenv("HUB_INBOX_PASSWORD", dovecot.password)
    hub = open_office(tmp_path / "office", database_url, smtp, inbox_url=dovecot.imap_url(), caseworker_digest=True,
                      ssa_control_number=CONTROL)
    yield hub
    hub.close()


def at(hub: Hub, day: date, clock_time: str) -> datetime:
    """Set the office's clock to `clock_time` on `day`, office time; returns the moment."""
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.at = local_moment(day, time.fromisoformat(clock_time), hub.config.office.timezone)
    return clock.at


def since(smtp: SmtpServer, count: int, address: str) -> list[CapturedMessage]:
    """What `address` received after the first `count` messages the SMTP server took."""
    return [sent for sent in smtp.messages[count:] if address in sent.rcpt_tos]


def written(hub: Hub, message: EmailMessage) -> EmailMessage:
    """`message` dated now, by the office's clock, as the writer's mail client dates it."""
    del message["Date"]
    message["Date"] = format_datetime(hub.clock.now())
    return message


def reply(hub: Hub, to: CapturedMessage, text: str, *files: tuple[str, bytes, str]) -> EmailMessage:
    """Maria's answer from Outlook: her text above the message she answers, her files attached."""
    return with_files(written(hub, answer(to, f"Maria Lopez <{MARIA}>", outlook(to.message, text))), *files)


def ref_of(notice: CapturedMessage) -> str:
    tag = re.match(r"\[([^]]+)\] ", subject(notice))
    assert tag is not None, subject(notice)
    return tag.group(1)


def hub_command(hub: Hub, capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """What `hub WORDS` prints; it must succeed."""
    code, out, err = cli(hub, *words, capsys=capsys)
    assert code == 0, err
    return out


def flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------
# The steps of the day, in README's order


def sunday_anna_kowalskis_case_waits_on_ssa(hub: Hub, smtp: SmtpServer) -> str:
    """Before the day: Anna Kowalski's case, Maria's, her release signed on paper and the inquiry sent to SSA;
    Maria means to ring her back on Monday."""
    at(hub, SUNDAY, "10:00")
    arrive(hub, written(hub, mail(f"Anna Kowalski <{ANNA}>", OFFICE_ADDRESS, "Survivor benefits",
                                  "My survivor benefits stopped in October. Please call me at (919) 555-0142.")))
    cycle(hub)
    (notice,) = smtp.sent_to(MARIA)
    ref = ref_of(notice)
    from_staff(hub, reply(hub, notice, "#assign maria\n#agency ssa\n#release received 2026-11-20\n"
                                       "#send agency-inquiry\n#followup 1d ring Anna back"))
    cycle(hub)
    assert case_of(hub, ref).status == "pending-agency"
    assert [subject(sent) for sent in smtp.sent_to(LIAISON)] == [
        f"[{ref}] Congressional inquiry on behalf of Anna Kowalski: Survivor benefits"]
    return ref


def monday_0800_her_week_unasked(hub: Hub, smtp: SmtpServer, kowalski: str) -> None:
    run_at(hub, at(hub, MONDAY, "08:00"))  # `hub run --once --at`, as the daemon would at 08:00
    (digest,) = digests(smtp, MARIA)
    assert subject(digest) == "Your cases, week of November 23: 1 open, 0 overdue, 1 due this week"
    lists = sections(digest)
    assert lists["Due this week"] == [f"{kowalski}  Mon Nov 23  your follow-up: ring Anna back  (Anna Kowalski)"]
    (line,) = lists["Your open cases"]
    assert line.startswith(f"{kowalski}  Anna Kowalski  Social Security Administration"), line


def the_triage_list_an_ssa_letter_without_our_reference(hub: Hub, smtp: SmtpServer, kowalski: str) -> None:
    at(hub, MONDAY, "08:10")
    before = len(smtp.messages)
    from_agency(hub, written(hub, mail(f"SSA Liaison <{LIAISON}>", OFFICE_ADDRESS, "Congressional inquiry",
                                       "Control No. 2026-CI-01234\nWe reviewed the survivor benefits of Anna Kowalski "
                                       "and restored them from October.")))
    assert cycle(hub).inbox.fates == {"triage": 1}
    (notice,) = since(smtp, before, MARIA)  # the intake address: the first staff member, Maria
    assert subject(notice) == "In triage: Congressional inquiry"
    text = body_of(notice)
    assert "Why it is there: agency mail with no case reference" in text and "restored them from October" in text
    (likely,) = [line for line in text.splitlines() if line.startswith(f"- {kowalski}")]
    assert "Anna Kowalski" in likely, likely

    before = len(smtp.messages)
    from_staff(hub, reply(hub, notice, f"#case {kowalski}"))
    assert cycle(hub).inbox.fates == {"command": 1}
    done, told = sorted(since(smtp, before, MARIA), key=lambda sent: "Done" not in subject(sent))
    assert subject(done).startswith(f"[{kowalski}] Done: triage item") and f"filed on {kowalski}" in body_of(done)
    assert subject(told) == f"[{kowalski}] Answer from SSA", "her case's caseworker is told, as for any answer"
    assert "restored them from October" in body_of(told)
    assert "Answer due" not in body_of(told), "the agency has answered: nothing is due from it"
    assert since(smtp, before, ANNA) == [] and since(smtp, before, LIAISON) == []
    assert answered(hub, kowalski), "the follow-up of SSA is cancelled"
    case = case_of(hub, kowalski)
    assert (case.status, case.agency_control) == ("open", "2026-CI-01234")


def at_0900_her_follow_up_after_the_answer(hub: Hub, smtp: SmtpServer, kowalski: str) -> None:
    at(hub, MONDAY, "08:55")
    before = len(smtp.messages)
    cycle(hub)
    (due,) = since(smtp, before, MARIA)
    assert subject(due) == f"[{kowalski}] Follow-up due"
    text = body_of(due)
    assert "Your note: ring Anna back" in text and "Inquiry sent:" in text, text
    assert "Answer due" not in text, "SSA has answered: nothing is due from it"


def at_0910_a_new_case_with_a_file(hub: Hub, smtp: SmtpServer) -> tuple[str, CapturedMessage]:
    at(hub, MONDAY, "09:10")
    before = len(smtp.messages)
    first = mail(f"Pat Rivera <{PAT}>", OFFICE_ADDRESS, "My pension statement",
                 "Hello, my pension statement shows the wrong amount since September. My award letter is attached.")
    arrive(hub, with_files(written(hub, first), ("award-letter.pdf", AWARD, "application/pdf")))
    cycle(hub)
    (ack,) = since(smtp, before, PAT)
    (notice,) = since(smtp, before, MARIA)
    ref = ref_of(notice)
    assert subject(notice) == f"[{ref}] New case from Pat Rivera" and subject(ack).startswith(f"[{ref}] ")
    assert files_of(notice) == [("award-letter.pdf", AWARD)]
    text = body_of(notice)
    assert "the wrong amount since September" in text
    assert len([line for line in text.splitlines() if any(name in line for name in COMMANDS)]) == 3, text

    before = len(smtp.messages)
    from_staff(hub, reply(hub, notice, "#assign maria\n#agency ssa\n#send privacy-release-request\n"
                                       "Dear Pat, we have opened your case; please sign the form that follows.\n"
                                       "Maria Lopez"))
    cycle(hub)
    note, form = since(smtp, before, PAT)  # her note first, then the form, each once
    assert body_of(note).startswith("Dear Pat, we have opened your case; please sign the form that follows.\n"
                                    "Maria Lopez\n\nOur reference: "), body_of(note)
    assert body_of(note).count("Maria Lopez") == 1, "her own signature is not doubled"
    assert "________________________________" not in body_of(note), "the notice she answered stays behind"
    assert subject(form) == f"[{ref}] Your signature is needed so we can help with your case"
    (done,) = since(smtp, before, MARIA)
    assert subject(done) == f"[{ref}] Done"
    for line in ("- assigned to Maria Lopez", "- agency set to Social Security Administration",
                 f"- privacy-release-request queued for {PAT}"):
        assert line in body_of(done), body_of(done)
    return ref, form


def at_1130_the_release_comes_back(hub: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   ref: str, form: CapturedMessage) -> None:
    at(hub, MONDAY, "11:30")
    before = len(smtp.messages)
    arrive(hub, with_files(written(hub, answer(form, f"Pat Rivera <{PAT}>", "Here is the form, signed.")),
                           ("release.pdf", RELEASE, "application/pdf")))
    cycle(hub)
    (notice,) = since(smtp, before, MARIA)
    assert subject(notice) == f"[{ref}] New message from Pat Rivera"
    assert files_of(notice) == [("release.pdf", RELEASE)]
    assert "may be the signed privacy release: reply #release received" in flat(body_of(notice))

    shown = hub_command(hub, capsys, "case", "show", ref)
    for name, data in (("award-letter.pdf", AWARD), ("release.pdf", RELEASE)):
        assert f"file: {name} (application/pdf, {len(data)} bytes)" in shown, shown
    paths = hub_command(hub, capsys, "case", "files", ref, "--out", str(tmp_path / "files"))
    assert sorted(Path(line).name for line in paths.splitlines()) == ["award-letter.pdf", "release.pdf"]
    assert (tmp_path / "files" / "release.pdf").read_bytes() == RELEASE

    before = len(smtp.messages)
    from_staff(hub, reply(hub, notice, "#release received 2026-11-22\n#send agency-inquiry"))
    cycle(hub)
    (inquiry,) = since(smtp, before, LIAISON)
    text = flat(body_of(inquiry))
    assert "will follow" not in text and "signed Privacy Act release of November 22, 2026 is attached" in text, text
    assert files_of(inquiry) == [("release.pdf", RELEASE)]
    assert since(smtp, before, PAT) == []
    assert case_of(hub, ref).status == "pending-agency"
    with hub.sessions() as session:  # the hub will chase SSA against its published response time
        chase = session.scalars(select(Reminder).where(Reminder.case_id == case_of(hub, ref).id,
                                                       Reminder.kind == AGENCY_FOLLOWUP)).one()
    assert chase.state == "pending" and chase.due_at.date() > MONDAY


def at_1400_finding_and_sending_files(hub: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str], kowalski: str,
                                      ref: str) -> None:
    at(hub, MONDAY, "14:00")
    assert ask(hub, smtp, MARIA, "#mycases") == ["Your open cases: 2"]
    mine = body_of(smtp.sent_to(MARIA)[-1])
    assert kowalski in mine and ref in mine
    (listed,) = ask(hub, smtp, MARIA, "#search Kowalski")
    hits = [line for line in body_of(smtp.sent_to(MARIA)[-1]).splitlines() if line.startswith("CW-")]
    assert listed == f"Search for 'Kowalski': {len(hits)} found", listed
    assert all(line.startswith(f"{kowalski}  open  ") for line in hits), hits
    assert f"{kowalski}  open  2026-11-22  name: Anna Kowalski" in hits, hits
    for typed, match in (("Kowalski", "name"), ("(919) 555-0142", "inbound"), ("2026-CI-01234", "agency-control")):
        results = found(hub, capsys, typed)  # `hub search TEXT --json`, for the office's IT person
        assert {hit["ref"] for hit in results} == {kowalski}, (typed, results)
        assert match in {hit["match"] for hit in results}, (typed, results)

    # SSA gets the award letter already on the case, and her notes of the call attached to her reply.
    latest = [sent for sent in smtp.sent_to(MARIA) if subject(sent).startswith(f"[{ref}] New message")][-1]
    before = len(smtp.messages)
    from_staff(hub, reply(hub, latest, "#to agency\n#attach award-letter.pdf\n"
                                       "Please find the award letter and our notes of today's call attached.",
                          ("call-notes.pdf", CALL_NOTES, "application/pdf")))
    cycle(hub)
    (relayed,) = since(smtp, before, LIAISON)
    assert body_of(relayed).startswith("Please find the award letter and our notes of today's call attached.")
    assert sorted(files_of(relayed)) == [("award-letter.pdf", AWARD), ("call-notes.pdf", CALL_NOTES)]
    assert since(smtp, before, PAT) == []

    # The same words from her address, but not vouched for by the office's server: refused, and she sees what.
    before = len(smtp.messages)
    forged = answer(latest, MARIA, "#close withdrawn\nPat, please reply with your bank account number.")
    arrive(hub, written(hub, forged), ("Received", RECEIVED))
    cycle(hub)
    (refused,) = since(smtp, before, MARIA)
    assert subject(refused).startswith(f"[{ref}] Nothing was applied or sent")
    assert "What was refused:\n> #close withdrawn\n> Pat, please reply with your bank account number." in \
        body_of(refused), body_of(refused)
    assert since(smtp, before, PAT) == [] and case_of(hub, ref).status == "pending-agency"


def weeks_later_ssa_answers_and_she_closes(hub: Hub, smtp: SmtpServer, ref: str) -> None:
    at(hub, date(2026, 12, 4), "10:00")
    cycle(hub)  # what fell due meanwhile goes
    (inquiry,) = [sent for sent in smtp.sent_to(LIAISON) if subject(sent).startswith(f"[{ref}] Congressional")]
    before = len(smtp.messages)
    from_agency(hub, written(hub, answer(inquiry, f"SSA Congressional Unit <{LIAISON}>",
                                         "The claim is approved; the payments resume in January.")))
    cycle(hub)
    (told,) = since(smtp, before, MARIA)
    assert subject(told) == f"[{ref}] Answer from SSA"
    assert "payments resume in January" in body_of(told) and "Answer due" not in body_of(told)

    before = len(smtp.messages)
    from_staff(hub, reply(hub, told, "#close resolved\n"
                                     "Pat, SSA approved your claim: the payments resume in January.\n"
                                     "Thank you for your patience."))
    for _ in range(3):  # the cycles that follow the closing send nothing more to Pat
        cycle(hub)
    (closing,) = since(smtp, before, PAT)
    assert subject(closing) == f"[{ref}] We have closed your case: My pension statement"
    letter = body_of(closing)
    assert "Pat, SSA approved your claim: the payments resume in January.\nThank you for your patience." in letter
    (done,) = since(smtp, before, MARIA)
    assert "- closed (resolved)" in body_of(done), body_of(done)


def a_day_later_pat_writes_back(hub: Hub, smtp: SmtpServer, ref: str) -> None:
    at(hub, date(2026, 12, 5), "10:00")
    closing = smtp.sent_to(PAT)[-1]
    before = len(smtp.messages)
    arrive(hub, written(hub, answer(closing, f"Pat Rivera <{PAT}>", "The January payment did not come. Can you "
                                                                   "look again?")))
    cycle(hub)
    assert case_of(hub, ref).status == "open"
    (notice,) = since(smtp, before, MARIA)
    assert subject(notice) == f"[{ref}] New message from Pat Rivera"
    assert "It reopened the case, closed on December 4, 2026" in flat(body_of(notice)), body_of(notice)
    with hub.sessions() as session:
        survey = session.scalars(select(Reminder).where(Reminder.case_id == case_of(hub, ref).id,
                                                        Reminder.kind == "survey")).one()
    assert (survey.state, survey.closed_by) == ("cancelled", "the case was reopened")


def her_mailbox_reads_as_one_conversation(smtp: SmtpServer, ref: str) -> None:
    first, *later = [sent.message for sent in smtp.sent_to(MARIA) if subject(sent).startswith(f"[{ref}]")]
    assert first["Subject"] == f"[{ref}] New case from Pat Rivera"
    root = str(first["Message-ID"]).strip()
    for message in later:
        assert root in str(message["References"]).split(), (message["Subject"], message["References"])
        assert len(str(message["Subject"])) <= len(ref) + 40, message["Subject"]
        part = message.get_body(("plain",))
        assert part is not None and "#assign" not in part.get_content(), message["Subject"]
    assert [str(message["Subject"]).removeprefix(f"[{ref}] ") for message in later if "New" in message["Subject"]
            or "Answer" in message["Subject"]] == [
        "New message from Pat Rivera", "Answer from SSA", "New message from Pat Rivera"]


def the_case_history_in_the_offices_time(hub: Hub, capsys: pytest.CaptureFixture[str], ref: str) -> None:
    shown = hub_command(hub, capsys, "case", "show", ref).splitlines()
    assert "<- 2026-11-23 09:10  constituent  pat@example.com  My pension statement" in shown  # 14:10 UTC
    assert "   2026-11-23 09:21  case-opened  opened from email" in shown
    assert "   2026-12-04 10:33  closed  resolved" in shown


def an_archive_import_sends_nothing(hub: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    """`hub ingest --archive` is for the command line, not her mail client; the rest is in test_archive_import."""
    hub_command(hub, capsys, "ingest", "--archive", str(archive_of(tmp_path, "Old Writer <old.writer@example.com>")))
    before = len(smtp.messages)
    cycle(hub)
    with hub.sessions() as session:
        (archived,) = session.scalars(select(Case).where(Case.close_reason == "archived"))
        assert session.scalars(select(Outbox).where(Outbox.case_id == archived.id)).all() == []
    assert since(smtp, before, "old.writer@example.com") == []


# ---------------------------------------------------------------------------------------------------


def test_a_caseworkers_day_from_her_mail_client(office: Hub, dovecot: DovecotServer, smtp: SmtpServer,
                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    hub = office
    kowalski = sunday_anna_kowalskis_case_waits_on_ssa(hub, smtp)
    monday_0800_her_week_unasked(hub, smtp, kowalski)
    the_triage_list_an_ssa_letter_without_our_reference(hub, smtp, kowalski)
    at_0900_her_follow_up_after_the_answer(hub, smtp, kowalski)
    rivera, form = at_0910_a_new_case_with_a_file(hub, smtp)
    at_1130_the_release_comes_back(hub, smtp, capsys, tmp_path, rivera, form)
    at_1400_finding_and_sending_files(hub, smtp, capsys, kowalski, rivera)
    weeks_later_ssa_answers_and_she_closes(hub, smtp, rivera)
    a_day_later_pat_writes_back(hub, smtp, rivera)
    her_mailbox_reads_as_one_conversation(smtp, rivera)
    the_case_history_in_the_offices_time(hub, capsys, rivera)
    an_archive_import_sends_nothing(hub, smtp, capsys, tmp_path)

    assert len(digests(smtp, MARIA)) == 1, "her Monday digest reached her once, whatever ran after 08:00"
    assert Counter(len(copies) for copies in smtp.by_message_id().values()) == {1: len(smtp.messages)}, \
        "every message reached the SMTP server once"
    with hub.sessions() as session:
        assert {row.state for row in session.scalars(select(Outbox))} == {"sent"}
    counts, folders = tally(hub), folder_counts(dovecot)
    assert (folders["INBOX"], folders.get("Quarantine", 0), counts.triage, counts.quarantine) == (0, 0, 0, 0)
    assert folders["Processed"] == counts.messages - 1, "every message read from the inbox is stored (and one archived)"

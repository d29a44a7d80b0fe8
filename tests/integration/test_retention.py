"""Retention (issue 16, item 5) on SQLite and PostgreSQL: `hub purge --dry-run` lists what `[retention]` lets go
and changes nothing; `hub purge` (and `hub run`) empties cases closed `closed_case_years` ago to their
tombstones, drops the original mail of messages older than `raw_mail_days`, keeps the weekly report as it
was, spares a constituent who still has another case, is safe to interrupt and to run again; a late reply
to a purged case is placed by the usual rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.cases import retention
from hub.cases.retention import Purged, purge
from hub.cases.search import search
from hub.cases.triage_queue import dismiss
from hub.cli.case_actions import run_action
from hub.cli.main import main as hub_cli
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.file_store import attachment_bytes, message_raw
from hub.core.models import Case, Event, Message, Outbox, Party, PartyContact, QuarantineItem
from hub.intake import quarantine
from hub.reports.week import parse_week
from hub.reports.weekly import weekly_report
from hub.run.cycle import run_once
from hub.run.jobs import office_jobs
from tests.helpers import OFFICE_ADDRESS, START, email, feed, make_office

pytestmark = pytest.mark.integration

PAT, LEE, KIM = "Pat Example <pat@example.com>", "Lee Jones <lee@example.net>", "Kim Park <kim@example.org>"
RETENTION = "\n[retention]\nclosed_case_years = 2\nraw_mail_days = 90\n"
THREE_YEARS = timedelta(days=3 * 365 + 1)


@pytest.fixture
def office(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """An office that keeps closed cases two years and original mail 90 days; `hub` commands run at its clock."""
    hub = make_office(tmp_path / "office", database_url, tables=RETENTION)
    monkeypatch.setattr("hub.cli.context.open_hub", lambda path, _=None: open_hub(path, hub.clock))
    yield hub
    hub.close()


@dataclass(frozen=True)
class Filed:
    pat_old: str      # Pat's case, closed three years before the purge
    lee_old: str      # Lee's case, closed then too: Lee has no other case
    pat_open: str     # Pat's second case, still open
    kim_recent: str   # closed less than two years before the purge
    held: int         # a message waiting in triage
    dismissed: int    # a message dismissed from triage three years before


def later(hub: Hub, delta: timedelta) -> None:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(delta)


def with_file(sender: str, subject: str, body: str, filename: str) -> bytes:
    """A message with a PDF attached, as a mail client sends it."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, OFFICE_ADDRESS, subject
    message["Date"], message["Message-ID"] = format_datetime(START), make_msgid(domain="example.com")
    message.set_content(body)
    message.add_attachment(b"%PDF-1.4 " + body.encode(), maintype="application", subtype="pdf", filename=filename)
    return message.as_bytes()


def held_row(hub: Hub, sender: str) -> int:
    """The row of the message from `sender` triage holds."""
    with hub.sessions() as session:
        return session.scalars(select(Message.id).where(Message.sender == sender, Message.disposition == "triage")
                               .order_by(Message.id.desc())).first() or 0


def opened(hub: Hub, raw: bytes) -> str:
    outcome = feed(hub, raw)
    assert outcome.case_ref, outcome
    return outcome.case_ref


def file_the_office(hub: Hub) -> Filed:
    """Three years of casework: two cases closed long ago, one of a constituent who still has an open case."""
    pat_old = opened(hub, with_file(PAT, "My pension sapphire", "My pension stopped, sapphire.", "pat-award.pdf"))
    run_action(hub, pat_old, "assign", "sam")
    run_action(hub, pat_old, "agency", "ssa")
    run_action(hub, pat_old, "note", "called Pat at home about the sapphire pension")
    run_action(hub, pat_old, "contact", "add +19195550142")
    lee_old = opened(hub, email(sender=LEE, subject="Lost passport emerald", body="My passport is lost, emerald."))
    run_action(hub, lee_old, "assign", "maria")
    assert feed(hub, email(sender="Sam Other <other@example.com>", subject=f"About [{pat_old}] turquoise",
                           body="Forwarded to me, turquoise.")).fate == "triage"
    assert feed(hub, email(sender="Ann Stray <ann@example.com>", subject=f"Re: [{lee_old}] amber",
                           body="amber")).fate == "triage"
    held, dismissed = held_row(hub, "other@example.com"), held_row(hub, "ann@example.com")
    with hub.sessions.begin() as session:
        dismiss(session.connection(), dismissed, "not casework", "cli", "cli", hub.clock.now())
    later(hub, timedelta(days=1))
    run_action(hub, pat_old, "close", "resolved")
    run_action(hub, lee_old, "close", "referred")
    run_once(hub)  # acknowledgements, notices and closing letters go
    later(hub, timedelta(days=2))
    pat_open = opened(hub, email(sender=PAT, subject="Medicare card ruby", body="My Medicare card is wrong, ruby."))
    later(hub, timedelta(days=400))
    kim_recent = opened(hub, email(sender=KIM, subject="Visa onyx", body="My visa is late, onyx."))
    run_action(hub, kim_recent, "close", "resolved")
    run_once(hub)
    quarantined = quarantine.hold(hub.sessions, b"\x00not mail", "test", "email", "unreadable", hub.clock.now())
    quarantine.close(hub.sessions, quarantined, "discarded", "cli", hub.clock.now())
    later(hub, THREE_YEARS - timedelta(days=403))
    return Filed(pat_old, lee_old, pat_open, kim_recent, held, dismissed)


def case_of(hub: Hub, ref: str) -> Case:
    with hub.sessions() as session:
        return session.scalars(select(Case).where(Case.ref == ref)).one()


def messages_of(hub: Hub, ref: str) -> list[dict[str, Any]]:
    with hub.sessions() as session:
        rows = session.scalars(select(Message).join(Case, Case.id == Message.case_id).where(Case.ref == ref)
                               .order_by(Message.id))
        return [{"subject": m.subject, "body": m.body, "text": m.full_text, "sender": m.sender,
                 "recipients": m.recipients, "raw": message_raw(session, m), "message_id": m.message_id,
                 "direction": m.direction, "kind": m.kind, "at": m.at,
                 "files": [(a.filename, attachment_bytes(session, a), a.size) for a in m.attachments]}
                for m in rows]


def hits(hub: Hub, words: str) -> set[str | None]:
    with hub.sessions() as session:
        return {hit.ref for hit in search(session, words).hits}


def everything(hub: Hub) -> list[object]:
    """Every row the purge could change, comparable."""
    with hub.sessions() as session:
        return [[tuple(getattr(row, column.key) for column in table.__table__.columns)
                 for row in session.scalars(select(table).order_by(table.id))]
                for table in (Case, Message, Event, Outbox, Party, PartyContact, QuarantineItem)]


def report_of_the_first_week(hub: Hub) -> tuple[str, bytes]:
    report = weekly_report(hub, parse_week("2026-W48", hub.config.office.timezone))
    return report.text, report.csv


def cli(hub: Hub, capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    code = hub_cli(["--config", str(hub.config.path), *words])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_dry_run_lists_what_would_go_and_changes_nothing(office: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    filed = file_the_office(office)
    before = everything(office)
    code, out, err = cli(office, capsys, "purge", "--dry-run", "--json")
    assert (code, err) == (0, "")
    listed = json.loads(out)
    assert [case["ref"] for case in listed["cases"]] == [filed.pat_old, filed.lee_old]
    pat = listed["cases"][0]
    assert pat["closed_at"].startswith("2026-11-24") and pat["files"] == 1 and pat["messages"] >= 3
    assert pat["bytes"] > 0
    assert listed["raw_mail"]["messages"] >= 2 and listed["raw_mail"]["bytes"] > 0  # Pat's open case, Kim's
    # The dismissed message, and the triage notices and list that went to staff about held messages.
    assert (listed["messages_on_no_case"], listed["quarantine_items"]) == (4, 1)
    code, out, _ = cli(office, capsys, "purge", "--dry-run")
    assert code == 0 and filed.pat_old in out and filed.kim_recent not in out and "nothing changed" in out
    assert everything(office) == before


def test_a_purge_keeps_the_tombstone_and_the_report_and_empties_the_rest(office: Hub, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    filed = file_the_office(office)
    report = report_of_the_first_week(office)
    kept = case_of(office, filed.pat_old)
    pat_before, open_before = messages_of(office, filed.pat_old), messages_of(office, filed.pat_open)
    assert hits(office, "sapphire") == {filed.pat_old} and hits(office, "emerald") == {filed.lee_old}
    assert hits(office, "Lee Jones") == {filed.lee_old}

    listed = json.loads(cli(office, capsys, "purge", "--dry-run", "--json")[1])
    code, out, err = cli(office, capsys, "purge", "--json")
    assert (code, err) == (0, "")
    went = json.loads(out)
    assert went == {"cases": 2, "messages": sum(case["messages"] for case in listed["cases"]),
                    "files": sum(case["files"] for case in listed["cases"]), "bytes": went["bytes"],
                    "raw_messages": listed["raw_mail"]["messages"], "loose_messages": listed["messages_on_no_case"],
                    "quarantine": 1}, "the dry run listed what went"
    assert went["bytes"] >= sum(case["bytes"] for case in listed["cases"]) + listed["raw_mail"]["bytes"] > 0

    assert report_of_the_first_week(office) == report, "the weekly figures are the same after the purge"
    tomb = case_of(office, filed.pat_old)
    assert (tomb.ref, tomb.status, tomb.close_reason, tomb.agency, tomb.assignee, tomb.opened_at, tomb.closed_at,
            tomb.labels) == (kept.ref, "closed", "resolved", "ssa", kept.assignee, kept.opened_at, kept.closed_at,
                             kept.labels)
    assert tomb.subject == ""
    after = messages_of(office, filed.pat_old)
    assert len(after) == len(pat_before)
    for old, new in zip(pat_before, after, strict=True):
        assert (new["direction"], new["kind"], new["at"], new["message_id"]) == \
            (old["direction"], old["kind"], old["at"], old["message_id"])
        assert (new["subject"], new["body"], new["text"], new["sender"], new["recipients"], new["raw"]) == \
            ("", "", "", "", [], None)
        assert [(name, data) for name, data, _ in new["files"]] == [("", None)] * len(old["files"])
    assert [size for _, _, size in after[0]["files"]] == [size for _, _, size in pat_before[0]["files"]]
    assert hits(office, "sapphire") == set() and hits(office, "emerald") == set()
    assert hits(office, "Lee Jones") == set() and hits(office, "lee example net") == set()

    with office.sessions() as session:
        lee = session.get(Party, case_of(office, filed.lee_old).constituent_id)
        assert lee is not None and (lee.name, lee.email, lee.phone) == ("", None, None)
        pat = session.get(Party, tomb.constituent_id)
        assert pat is not None and (pat.name, pat.email, pat.phone) == \
            ("Pat Example", "pat@example.com", "+19195550142"), "Pat still has an open case"
        events = session.scalars(select(Event).where(Event.case_id == tomb.id).order_by(Event.id)).all()
        assert {event.detail for event in events[:-1]} == {""} and events[-1].kind == "purged"
        assert "closed_case_years = 2" in events[-1].detail
        assert {event.kind for event in events} >= {"note", "closed", "assigned"}
        assert "constituent" in {event.actor for event in events}
        assert not [event.actor for event in events if "example.com" in event.actor or "555" in event.actor]
        letters = session.scalars(select(Outbox).where(Outbox.case_id == tomb.id)).all()
        assert letters and all((row.body, row.context, row.recipient) == (None, {}, "") for row in letters)
        assert all(row.state == "sent" for row in letters)
        assert session.scalar(select(QuarantineItem.id)) is None
        held, dismissed = session.get(Message, filed.held), session.get(Message, filed.dismissed)
        assert held is not None and message_raw(session, held) and held.body, "a held message waits whole"
        assert dismissed is not None and (dismissed.body, message_raw(session, dismissed)) == ("", None)

    still_open = messages_of(office, filed.pat_open)
    assert [m["body"] for m in still_open] == [m["body"] for m in open_before] and still_open[0]["body"]
    assert still_open[0]["raw"] is None, "original mail older than raw_mail_days goes on open cases too"
    assert hits(office, "ruby") == {filed.pat_open} and filed.pat_open in hits(office, "Pat Example")
    recent = messages_of(office, filed.kim_recent)
    assert recent[0]["body"] and recent[0]["raw"] is None and hits(office, "onyx") == {filed.kim_recent}

    for ref in (filed.pat_old, filed.pat_open):  # what reads a case works without its original mail and files
        for words in (("case", "show", ref), ("case", "show", ref, "--json"), ("case", "files", ref)):
            code, out, err = cli(office, capsys, *words)
            assert (code, err) == (0, ""), words
    assert "(removed under the office's retention policy" in cli(office, capsys, "case", "files", filed.pat_old)[1]
    code, out, err = cli(office, capsys, "case", "files", filed.pat_old, "--out", str(tmp_path / "files"))
    assert (code, out) == (0, "") and err == ("hub: attachment-1 not written: removed under the office's "
                                              "retention policy, only its type and size are kept\n")
    assert json.loads(cli(office, capsys, "case", "show", filed.pat_old, "--json")[1])["status"] == "closed"

    snapshot = everything(office)
    code, out, _ = cli(office, capsys, "purge")
    assert code == 0 and out.startswith("retention: 0 cases purged (0 messages, 0 files), original mail of 0 more")
    assert everything(office) == snapshot, "a second run changes nothing"


def test_an_interrupted_purge_leaves_each_case_whole_and_the_next_run_finishes(
        office: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    filed = file_the_office(office)
    real_bury, buried = retention.bury, []

    def crash_on_the_second(session: Any, case: Case, *rest: Any) -> None:
        real_bury(session, case, *rest)
        buried.append(case.ref)
        if len(buried) == 2:
            raise RuntimeError("power cut")
    monkeypatch.setattr(retention, "bury", crash_on_the_second)
    with pytest.raises(RuntimeError):
        purge(office.sessions, office.config.retention, office.refs, office.clock.now())
    assert buried == [filed.pat_old, filed.lee_old]
    assert messages_of(office, filed.pat_old)[0]["body"] == "", "the first case committed whole"
    assert messages_of(office, filed.lee_old)[0]["body"], "the second case is untouched"
    assert hits(office, "emerald") == {filed.lee_old}
    monkeypatch.setattr(retention, "bury", real_bury)
    done = purge(office.sessions, office.config.retention, office.refs, office.clock.now())
    assert done.cases == 1 and messages_of(office, filed.lee_old)[0]["body"] == ""
    assert purge(office.sessions, office.config.retention, office.refs, office.clock.now()) == Purged()


def test_a_late_reply_to_a_purged_case_is_placed_by_the_usual_rules(office: Hub) -> None:
    filed = file_the_office(office)
    purge(office.sessions, office.config.retention, office.refs, office.clock.now())
    # Pat still has a case, so the hub still knows Pat: long closed, the reply opens a new case naming the old.
    pat = feed(office, email(sender=PAT, subject=f"Re: [{filed.pat_old}] We have closed your case",
                             body="The pension stopped again."))
    assert pat.fate == "new-case" and pat.case_ref not in (None, filed.pat_old)
    # Lee's details are gone with the case: the hub cannot tell Lee wrote, so a caseworker looks first.
    lee = feed(office, email(sender=LEE, subject=f"Re: [{filed.lee_old}] We have closed your case",
                             body="Did the passport office answer?"))
    assert lee.fate == "triage"
    with office.sessions() as session:
        row = session.get(Message, held_row(office, "lee@example.net"))
        assert row is not None and row.reason == f"sender is not a party on {filed.lee_old}"
    assert case_of(office, filed.lee_old).status == "closed"
    assert [m["body"] for m in messages_of(office, filed.lee_old)] == [""] * len(messages_of(office, filed.lee_old))
    # What lands on a tombstone later is emptied by the next run: the case is still closed that long.
    later(office, timedelta(hours=1))
    run_action(office, filed.lee_old, "note", "Lee phoned about the passport again")
    assert hits(office, "passport again") == {filed.lee_old}
    assert purge(office.sessions, office.config.retention, office.refs, office.clock.now()).cases == 1
    assert hits(office, "passport again") == set()


def test_the_daemon_and_run_once_apply_retention_only_when_it_is_set(tmp_path: Path, database_url: str,
                                                                      office: Hub) -> None:
    filed = file_the_office(office)
    jobs = {job.name: job for job in office_jobs(office)}
    assert jobs["retention"].every.startswith("daily 02:30")
    assert jobs["retention"].work(office, lambda: False) is False
    assert messages_of(office, filed.pat_old)[0]["body"] == ""
    unset = make_office(tmp_path / "unset", database_url)
    try:
        assert "retention" not in {job.name for job in office_jobs(unset)}
    finally:
        unset.close()


def test_run_once_applies_retention(office: Hub, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    filed = file_the_office(office)
    monkeypatch.setattr("hub.cli.context.open_hub", open_hub)  # the time is --at's
    moment = office.clock.now() + timedelta(hours=1)
    code, out, _ = cli(office, capsys, "run", "--once", "--at", moment.isoformat())
    assert code == 0 and "retention: 2 cases purged" in out
    assert messages_of(office, filed.lee_old)[0]["body"] == ""


def test_without_retention_purge_refuses_in_one_line(tmp_path: Path, database_url: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    hub = make_office(tmp_path / "plain", database_url)
    try:
        code, out, err = cli(hub, capsys, "purge", "--dry-run")
    finally:
        hub.close()
    assert code == 1 and out == "" and err.startswith("hub: retention is off:") and err.count("\n") == 1


def test_years_before_handles_the_leap_day() -> None:
    assert retention.years_before(datetime(2028, 2, 29, 12, 0), 2) == datetime(2026, 2, 28, 12, 0)
    assert retention.years_before(START, 7) == START.replace(year=2019)

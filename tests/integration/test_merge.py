"""Merging two cases (issue 16, item 1), by `hub case merge FROM INTO` and by `#merge REF` in a staff reply on
the case to keep, on SQLite and PostgreSQL: everything moves, both cases record it, the merged case closes
and its reference threads to the kept case; a merge that may not be made is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases.search import search
from hub.cli.main import main as hub_cli
from hub.core.app import Hub
from hub.core.models import Attachment, Event, Message, Outbox, Release, Reminder
from tests.helpers import OFFICE_ADDRESS
from tests.integration.test_commands import (
    MARIA,
    PAT,
    arrive,
    case_of,
    command,
    cycle,
    from_staff,
    mail,
    new_case,
    open_office,
    plus,
    subject,
    text_of,
)
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = open_office(tmp_path / "office", database_url, smtp)
    yield hub
    hub.close()


def on_case(hub: Hub, ref: str) -> dict[str, list[object]]:
    """Everything on the case, by kind of row."""
    case_id = case_of(hub, ref).id
    with hub.sessions() as session:
        rows: dict[str, list[object]] = {
            name: list(session.scalars(select(table).where(table.case_id == case_id).order_by(table.id)))
            for name, table in (("messages", Message), ("events", Event), ("releases", Release),
                                ("reminders", Reminder), ("letters", Outbox))}
        rows["attachments"] = list(session.scalars(select(Attachment.filename).join(Message)
                                                   .where(Message.case_id == case_id)))
    return rows


def two_cases_of_pat(hub: Hub, smtp: SmtpServer) -> tuple[str, str]:
    """Pat opens a case with a scanned file, gets a release and a follow-up on it, then opens a second one."""
    first = new_case(hub, subject="My Medicare card").ref
    scan = mail(f"Pat Example <{PAT}>", plus(hub, first), f"Re: [{first}]", "Here is the signed form.")
    scan.add_attachment(b"%PDF-1.4 signed release", maintype="application", subtype="pdf", filename="release.pdf")
    arrive(hub, scan)
    cycle(hub)
    command(hub, smtp, first, "#release received\n#followup 2w call the Medicare office")
    second = new_case(hub, subject="Medicare card again", body="Still no corrected card, sapphire.").ref
    return first, second


def snapshot(hub: Hub, ref: str) -> tuple[object, ...]:
    """The case's state and the rows on it, comparable."""
    case = case_of(hub, ref)
    rows = on_case(hub, ref)
    return (case.status, case.close_reason, case.merged_into_id, rows.pop("attachments"),
            {kind: ids(found) for kind, found in rows.items()})


def ids(rows: list[object]) -> set[int]:
    return {row.id for row in rows}  # type: ignore[attr-defined]


def test_the_command_line_merge_moves_everything_and_the_old_reference_threads_to_the_kept_case(
        office: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    hub = office
    merged, kept = two_cases_of_pat(hub, smtp)
    before_merged, before_kept = on_case(hub, merged), on_case(hub, kept)
    assert before_merged["attachments"] == ["release.pdf"] and len(before_merged["releases"]) == 1
    capsys.readouterr()

    assert hub_cli(["--config", str(hub.config.path), "case", "merge", merged, kept]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{merged} (Pat Example <{PAT}>) merged into {kept} (Pat Example <{PAT}>): ")
    assert f"{len(before_merged['messages'])} messages, 1 attachments" in line

    after_merged, after_kept = on_case(hub, merged), on_case(hub, kept)
    for kind in ("messages", "releases", "letters"):
        assert after_merged[kind] == [], kind
        assert ids(after_kept[kind]) == ids(before_merged[kind]) | ids(before_kept[kind]), kind
    assert after_kept["attachments"] == ["release.pdf"]
    assert ids(before_merged["events"]) < ids(after_kept["events"])
    moved = {reminder.id: reminder for reminder in after_kept["reminders"]}  # type: ignore[attr-defined]
    assert set(moved) == ids(before_merged["reminders"]) | ids(before_kept["reminders"])
    followups = [r for r in moved.values() if r.kind == "followup"]
    assert [(r.state, r.note) for r in followups] == [("pending", "call the Medicare office")]
    checkins = [r for r in moved.values() if r.kind == "checkin"]
    assert sorted(r.state for r in checkins) == ["cancelled", "pending"], "one check-in, not two"
    (merge_event,) = [e for e in after_kept["events"] if e.kind == "merged"]  # type: ignore[attr-defined]
    (merged_event,) = after_merged["events"]
    assert (merged_event.kind, merged_event.actor, merged_event.via) == ("merged-into", "cli", "cli")  # type: ignore[attr-defined]
    assert merge_event.detail.startswith(f"{merged} merged into this case: ")
    assert merged_event.detail.startswith(f"merged into {kept}: ")  # type: ignore[attr-defined]
    closed = case_of(hub, merged)
    assert (closed.status, closed.close_reason, closed.merged_into_id) == (
        "closed", f"merged into {kept}", case_of(hub, kept).id)
    with hub.sessions() as session:
        assert {hit.ref for hit in search(session, "sapphire").hits} == {kept}
        assert {hit.ref for hit in search(session, "signed form").hits} == {kept}, "the index follows the moved rows"

    # Pat answers on the old reference: the message lands on the kept case.
    reply_id = arrive(hub, mail(f"Pat Example <{PAT}>", OFFICE_ADDRESS, f"Re: [{merged}] My Medicare card",
                                "Any news?"))
    cycle(hub)
    with hub.sessions() as session:
        row = session.scalars(select(Message).where(Message.message_id == reply_id)).one()
        assert (row.case_id, row.disposition) == (case_of(hub, kept).id, "case")


def test_merges_that_may_not_be_made_are_refused_and_change_nothing(
        office: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    hub = office
    merged, kept = two_cases_of_pat(hub, smtp)
    lee = new_case(hub, sender="Lee Example <lee@example.com>", subject="Passport").ref
    other = new_case(hub, sender="Ann Example <ann@example.com>", subject="Pension").ref
    cli = ["--config", str(hub.config.path), "case", "merge"]
    assert hub_cli([*cli, merged, kept]) == 0
    capsys.readouterr()
    before = {ref: snapshot(hub, ref) for ref in (merged, kept, lee, other)}
    unknown = kept[:-2] + ("AA" if not kept.endswith("AA") else "BB")
    for words, said in (
            ([kept, kept], f"merge {kept}: a case cannot be merged into itself"),
            ([lee, unknown], f"no case {unknown!r}"),
            ([lee, merged], f"{merged} is already merged into {kept}"),
            ([merged, lee], f"{merged} is already merged into {kept}"),
            ([lee, kept], f"merge {lee} into {kept}: the constituents differ (Lee Example <lee@example.com>; "
                          f"Pat Example <{PAT}>); add force to merge them anyway")):
        assert hub_cli([*cli, *words]) != 0, words
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and said in error, (words, error)
    assert {ref: snapshot(hub, ref) for ref in before} == before
    assert case_of(hub, lee).status != "closed"

    assert hub_cli([*cli, lee, other, "--force"]) == 0
    assert "Lee Example <lee@example.com>" in capsys.readouterr().out
    assert case_of(hub, lee).merged_into_id == case_of(hub, other).id


def test_merge_by_mail_from_the_case_to_keep_and_never_unauthenticated(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    merged, kept = two_cases_of_pat(hub, smtp)
    before_merged = on_case(hub, merged)

    forged = mail(f"Maria Lopez <{MARIA}>", plus(hub, kept), f"Re: [{kept}]", f"#merge {merged}")
    from_staff(hub, forged, results="mx.doe.example.gov; dkim=fail; spf=fail smtp.mailfrom=doe.example.gov")
    cycle(hub)
    assert case_of(hub, merged).merged_into_id is None and on_case(hub, merged)["messages"]
    assert "merged" not in {e.kind for e in on_case(hub, kept)["events"]}  # type: ignore[attr-defined]

    reply, row_id = command(hub, smtp, kept, f"#merge {merged}")
    assert subject(reply).startswith(f"[{kept}] Done")
    assert f"- {merged} (Pat Example <{PAT}>) merged into {kept} (Pat Example <{PAT}>): " in text_of(reply)
    after_merged, after_kept = on_case(hub, merged), on_case(hub, kept)
    assert after_merged["messages"] == [] and ids(before_merged["messages"]) < ids(after_kept["messages"])
    assert after_kept["attachments"] == ["release.pdf"] and len(after_kept["releases"]) == 1
    (event,) = [e for e in after_kept["events"] if e.kind == "merged"]  # type: ignore[attr-defined]
    assert (event.actor, event.via, event.message_id) == (MARIA, "mail", row_id)
    assert [e.kind for e in after_merged["events"]] == ["merged-into"]  # type: ignore[attr-defined]
    assert case_of(hub, merged).close_reason == f"merged into {kept}"

    reply, _ = command(hub, smtp, kept, f"#merge {kept}")
    assert subject(reply).startswith(f"[{kept}] Nothing was applied or sent")
    assert f"merge {kept}: a case cannot be merged into itself" in text_of(reply)

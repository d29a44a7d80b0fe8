"""Export, transfer and import (issue 16, item 4), on SQLite and PostgreSQL: an office that worked cases by mail
exports them, another office (its own secret, the same prefix) imports them, and everything is there — every
message by Message-ID with its bytes, files, releases, reminders, events — while nothing is sent, and mail
that quotes the old references or answers the old messages threads to the imported cases. A damaged or
hostile archive imports nothing of what is damaged; a CSV of open cases loads whole or not at all."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from hub.cases.search import search
from hub.cli.main import main as hub_cli
from hub.core.app import Hub, open_hub
from hub.core.file_store import attachment_bytes, message_raw
from hub.core.models import (
    Attachment,
    Case,
    Event,
    Message,
    MessageFileCut,
    Outbox,
    Release,
    Reminder,
)
from hub.transfer import archive_reader
from tests.helpers import OFFICE_ADDRESS
from tests.integration.test_commands import PAT, arrive, case_of, cycle, mail, new_case, open_office
from tests.integration.test_merge import two_cases_of_pat
from tests.postgres import PostgresDatabases
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

NGUYEN = "Nguyễn Văn An <an.nguyen@example.com>"


@pytest.fixture
def second_database_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> str:
    """Another database of the same kind, for the office that imports."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'second.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    return databases.fresh()


@pytest.fixture
def offices(tmp_path: Path, database_url: str, second_database_url: str, smtp: SmtpServer,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Hub, Hub]]:
    """The office that exports and the one that imports: each made by `hub init`, so each has its own secret;
    both use the prefix CW. Their `hub` commands run at the first office's clock."""
    first = open_office(tmp_path / "first", database_url, smtp)
    second = open_office(tmp_path / "second", second_database_url, smtp)
    assert first.config.office.secret != second.config.office.secret
    assert first.config.office.reference_prefix == second.config.office.reference_prefix
    monkeypatch.setattr("hub.cli.context.open_hub", lambda path, _=None: open_hub(path, first.clock))
    yield first, second
    first.close()
    second.close()


def cli(hub: Hub, *words: str) -> int:
    return hub_cli(["--config", str(hub.config.path), *words])


def messages_of(hub: Hub) -> dict[str, tuple[bytes | None, str, str, list[tuple[str, bool, bytes | None]]]]:
    """Every message on a case, by Message-ID: its bytes, direction, kind and files (and whether each is a
    picture shown inside the message)."""
    with hub.sessions() as session:
        rows = session.scalars(select(Message).where(Message.case_id.is_not(None)))
        return {row.message_id or "": (message_raw(session, row), row.direction, row.kind,
                                       [(a.filename, a.inline, attachment_bytes(session, a))
                                        for a in row.attachments])
                for row in rows}


def rows_of(hub: Hub, table: type[Reminder | Release | Event], *fields: str) -> list[tuple[object, ...]]:
    with hub.sessions() as session:
        return sorted((tuple(getattr(row, name) for name in fields)
                       for row in session.scalars(select(table))), key=repr)


def count(hub: Hub, table: type[Outbox | Case | Message]) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def inbound_cuts(hub: Hub) -> int:
    """Files cut out of received messages' raw bytes, stored once (sent copies are cut against the files their
    letters enclosed, which an archive does not say)."""
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(MessageFileCut).join(Message)
                              .where(Message.direction == "in")) or 0


def run_import(hub: Hub, capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, dict[str, list]]:
    capsys.readouterr()
    status = cli(hub, "import", *words, "--json")
    return status, json.loads(capsys.readouterr().out)


def test_an_office_moves_to_another_and_every_message_reference_and_reminder_comes_along(
        offices: tuple[Hub, Hub], smtp: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = offices
    # The first office works: a scanned release, #release and #followup by mail, a second case merged into the
    # first, and a constituent whose name is not Latin-1.
    merged, kept = two_cases_of_pat(first, smtp)
    assert cli(first, "case", "merge", merged, kept) == 0
    nguyen = new_case(first, sender=NGUYEN, subject="Passport renewal",
                      body="My passport renewal is late. My cousin 王小明 is travelling with me.").ref
    assert cli(first, "case", "person", nguyen, "add", "Lan", "Tran", "lan.tran@example.com", "spouse") == 0
    scan = mail(NGUYEN, OFFICE_ADDRESS, f"Re: [{nguyen}] My passport", "The old passport, scanned.")
    scan.add_related(b"\x89PNG\r\n\x1a\n" + b"s" * 300, "image", "png", cid="<sig.png@example.com>",
                     filename="sig.png", disposition="inline")  # a picture in her signature
    scan.add_attachment(bytes(range(256)) * 64, maintype="application", subtype="pdf", filename="passport.pdf")
    arrive(first, scan)
    cycle(first)
    with first.sessions.begin() as session:
        session.execute(update(Case).where(Case.ref == nguyen).values(agency="old-agency",
                                                                      assignee="former.staffer@doe.example.gov"))
    sent_before = len(smtp.messages)
    exported = messages_of(first)
    assert len(exported) >= 8 and any(files for *_, files in exported.values())
    assert any(inline for *_, files in exported.values() for _, inline, _ in files)
    reminder_fields = ("kind", "due_at", "state", "note", "closed_by", "owner")
    reminders = rows_of(first, Reminder, *reminder_fields)
    releases = rows_of(first, Release, "signed_on", "received_on", "method", "scope", "recorded_by")
    events = rows_of(first, Event, "kind", "detail", "actor", "via", "at")

    # The whole office, as one archive: 0600, every checksum right, each case's timeline readable.
    archive = tmp_path / "office.zip"
    capsys.readouterr()
    assert cli(first, "export", "--out", str(archive)) == 0
    assert capsys.readouterr().out.startswith(f"wrote {archive}: 3 cases, {len(exported)} messages, ")
    assert archive.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*.partial"))
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        assert (manifest["format"], manifest["version"], manifest["scope"]) == ("casework-hub-export", 1, "office")
        assert {case["ref"] for case in manifest["cases"]} == {merged, kept, nguyen}
        assert set(manifest["files"]) == set(opened.namelist()) - {"manifest.json"}
        for name, spec in manifest["files"].items():
            data = opened.read(name)
            assert (hashlib.sha256(data).hexdigest(), len(data)) == (spec["sha256"], spec["size"]), name
        emls = {opened.read(name) for name in opened.namelist() if name.endswith(".eml")}
        assert emls == {raw for raw, *_ in exported.values()}
        timeline = pdf_text(opened.read(f"cases/{nguyen}/timeline.pdf"), tmp_path)
    assert f"Case {nguyen}" in timeline and "Nguyễn Văn An" in timeline and "王小明" in timeline
    assert "Passport renewal" in timeline and "My passport renewal is late." in timeline
    assert "Status: " in timeline and "Agency: old-agency" in timeline

    # The second office imports it: nothing is sent or queued, everything is there, strangers are said.
    status, summary = run_import(second, capsys, str(archive))
    assert status == 0 and summary["skipped"] == [] and summary["already_imported"] == []
    new_refs = {item["old_ref"]: item["ref"] for item in summary["imported"]}
    assert set(new_refs) == {merged, kept, nguyen}
    assert all(ref.startswith("CW-26-") for ref in new_refs.values()) and not set(new_refs.values()) & set(new_refs)
    assert any("'old-agency' is not in this office's agencies.toml" in note for note in summary["notes"])
    assert any("former.staffer@doe.example.gov is not on this office's staff list" in note
               for note in summary["notes"])
    assert count(second, Outbox) == 0 and len(smtp.messages) == sent_before
    assert messages_of(second) == exported
    assert inbound_cuts(second) == inbound_cuts(first) > 0, "its files stored once here too"
    assert rows_of(second, Reminder, *reminder_fields) == reminders
    assert rows_of(second, Release, "signed_on", "received_on", "method", "scope", "recorded_by") == releases
    imported_events = rows_of(second, Event, "kind", "detail", "actor", "via", "at")
    assert set(events) <= set(imported_events)
    assert sorted(e[0] for e in set(imported_events) - set(events)) == ["imported"] * 3
    with second.sessions() as session:
        (release,) = session.scalars(select(Release))
        evidence = session.get_one(Attachment, release.attachment_id)
        assert (evidence.filename, attachment_bytes(session, evidence)) == ("release.pdf", b"%PDF-1.4 signed release")
        assert {hit.ref for hit in search(session, "sapphire").hits} == {new_refs[kept]}
    assert case_of(second, new_refs[merged]).merged_into_id == case_of(second, new_refs[kept]).id
    assert case_of(second, new_refs[nguyen]).assignee == "former.staffer@doe.example.gov"
    capsys.readouterr()
    assert cli(second, "case", "show", nguyen, "--json") == 0, "the command line knows the old reference too"
    shown = json.loads(capsys.readouterr().out)
    assert shown["ref"] == new_refs[nguyen]
    assert shown["people"] == [{"name": "Lan Tran", "role": "spouse", "email": "lan.tran@example.com", "phone": None}]

    # The same archive again changes nothing.
    counts = (count(second, Case), count(second, Message))
    status, again = run_import(second, capsys, str(archive))
    assert status == 0 and again["imported"] == [] and len(again["already_imported"]) == 3
    assert (count(second, Case), count(second, Message)) == counts

    # The constituent and the agency go on with what they have: the old reference in a subject (of the merged
    # case: it follows the merge), an answer to the first office's acknowledgement (its Message-ID carries the
    # old reference and the first office's long code), and the first office's plus-address.
    with first.sessions() as session:
        acknowledgement = session.scalars(select(Message.message_id).join(Case, Case.id == Message.case_id).where(
            Case.ref == nguyen, Message.direction == "out", Message.kind == "letter:acknowledgement")).one()
    old = first.refs.parse(nguyen)
    assert old is not None
    by_subject = arrive(second, mail(f"Pat Example <{PAT}>", OFFICE_ADDRESS, f"Re: [{merged}] My Medicare card",
                                     "Any news on the card?"))
    by_answer = arrive(second, mail(NGUYEN, OFFICE_ADDRESS, "Re: your message", "Thank you.", acknowledgement))
    by_plus = arrive(second, mail(NGUYEN, first.refs.plus_address(OFFICE_ADDRESS, old), "More", "One more thing."))
    cycle(second)
    with second.sessions() as session:
        placed = dict(session.execute(select(Message.message_id, Message.case_id)
                                      .where(Message.message_id.in_([by_subject, by_answer, by_plus]))).all())
    assert placed == {by_subject: case_of(second, new_refs[kept]).id, by_answer: case_of(second, new_refs[nguyen]).id,
                      by_plus: case_of(second, new_refs[nguyen]).id}


def pdf_text(pdf: bytes, folder: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing (Debian: poppler-utils; scripts/test.sh installs it)")
    path = folder / "timeline.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_one_case_exports_alone_and_a_message_already_here_is_reported_not_doubled(
        offices: tuple[Hub, Hub], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = offices
    ref = new_case(first, subject="Pension").ref
    new_case(first, sender="Lee Example <lee@example.com>", subject="Another case")
    with first.sessions() as session:
        inbound = session.scalars(select(Message).join(Case, Case.id == Message.case_id)
                                  .where(Case.ref == ref, Message.direction == "in")).one()
        raw, message_id = message_raw(session, inbound), inbound.message_id
    assert raw is not None
    arrive(second, raw)  # the constituent wrote to both offices
    cycle(second)
    archive = tmp_path / "case.zip"
    assert cli(first, "case", "export", ref, "--out", str(archive)) == 0
    with zipfile.ZipFile(archive) as opened:
        assert [case["ref"] for case in json.loads(opened.read("manifest.json"))["cases"]] == [ref]

    status, summary = run_import(second, capsys, str(archive))
    assert status == 0 and len(summary["imported"]) == 1
    assert any(f"message {message_id} is already in this office" in note for note in summary["notes"])
    with second.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.message_id == message_id)) == 1

    assert cli(first, "case", "export", "CW-26-99999-AA", "--out", str(tmp_path / "none.zip")) == 1
    assert "no case 'CW-26-99999-AA'" in capsys.readouterr().err
    assert not (tmp_path / "none.zip").exists() and not list(tmp_path.glob(".*.partial"))


# ---------------------------------------------------------------------------------------------------
# Damaged and hostile archives


@pytest.fixture
def archive_of_two(offices: tuple[Hub, Hub], tmp_path: Path) -> tuple[Path, list[str]]:
    first, _ = offices
    refs = [new_case(first, subject="Pension").ref,
            new_case(first, sender="Lee Example <lee@example.com>", subject="Passport").ref]
    path = tmp_path / "two.zip"
    assert cli(first, "export", "--out", str(path)) == 0
    return path, refs


def rewritten(source: Path, target: Path, change: dict[str, bytes | None], extra: dict[str, bytes] | None = None,
              manifest: dict[str, object] | None = None) -> Path:
    """A copy of the archive with entries changed (None: left out), added, and manifest fields replaced."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            data = change.get(name, old.read(name))
            if name == "manifest.json" and manifest is not None:
                data = json.dumps(json.loads(old.read(name)) | manifest).encode()
            if data is not None:
                new.writestr(name, data)
        for name, data in (extra or {}).items():
            new.writestr(name, data)
    return target


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_a_damaged_archive_imports_nothing_of_what_is_damaged(
        offices: tuple[Hub, Hub], archive_of_two: tuple[Path, list[str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, second = offices
    path, (pension, passport) = archive_of_two
    with zipfile.ZipFile(path) as opened:
        eml = next(name for name in opened.namelist() if name.startswith(f"cases/{pension}/") and name.endswith(".eml"))
        manifest = json.loads(opened.read("manifest.json"))

    not_a_zip = tmp_path / "not.zip"
    not_a_zip.write_bytes(b"PK\x03\x04 certainly not a zip")
    future = rewritten(path, tmp_path / "future.zip", {}, manifest={"version": 2})
    foreign = rewritten(path, tmp_path / "foreign.zip", {}, manifest={"format": "something-else"})
    for bad, said in ((not_a_zip, "is not a readable ZIP archive"),
                      (future, "is an export of format version 2; this hub reads version 1"),
                      (foreign, "is not a casework-hub export")):
        capsys.readouterr()
        assert cli(second, "import", str(bad)) == 1
        lines = error_lines(capsys)
        assert len(lines) == 1 and said in lines[0], lines
    assert count(second, Case) == 0

    # One message's bytes changed: that case is not imported, the other is.
    tampered = rewritten(path, tmp_path / "tampered.zip", {eml: b"From: someone else\r\n\r\nchanged"})
    capsys.readouterr()
    assert cli(second, "import", str(tampered)) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"hub: {pension}: not imported: checksum mismatch on {eml}"]
    assert f"imported {passport} as " in captured.out and "1 imported, 0 already here, 1 not imported" in captured.out
    assert count(second, Case) == 1 and count(second, Outbox) == 0
    assert manifest["files"][eml]["size"] > 0


def test_a_hostile_archive_writes_nothing_outside_and_stops_at_its_limits(
        offices: tuple[Hub, Hub], archive_of_two: tuple[Path, list[str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, second = offices
    path, (pension, passport) = archive_of_two
    with zipfile.ZipFile(path) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        messages = f"cases/{pension}/messages.json"
        fields = json.loads(opened.read(messages))
    # The pension case's first message names an entry outside the archive's folders; the manifest vouches for it.
    evil = "../../../../tmp/evil.eml"
    fields[0]["eml"] = evil
    changed = json.dumps(fields).encode()
    files = manifest["files"] | {messages: {"sha256": hashlib.sha256(changed).hexdigest(), "size": len(changed)},
                                 evil: {"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}}
    traversal = rewritten(path, tmp_path / "traversal.zip", {messages: changed}, extra={evil: b"x"},
                          manifest={"files": files})
    assert run_import(second, capsys, str(traversal))[1]["skipped"] == [
        f"{pension}: not imported: {evil} is not in the manifest (or its size or checksum is unreadable)"]
    assert not Path("/tmp/evil.eml").exists() and not list(tmp_path.glob("**/evil.eml"))

    # A bomb: 64 MB of zeros in a few kilobytes, under a manifest that says so; the limit stops it unread.
    monkeypatch.setattr(archive_reader, "MAX_ENTRY_BYTES", 2**20)
    bomb = b"\0" * 64 * 2**20
    with zipfile.ZipFile(path) as opened:
        eml = next(n for n in opened.namelist() if n.startswith(f"cases/{pension}/") and n.endswith(".eml"))
    files = manifest["files"] | {eml: {"sha256": hashlib.sha256(bomb).hexdigest(), "size": len(bomb)}}
    bombed = rewritten(path, tmp_path / "bomb.zip", {eml: bomb}, manifest={"files": files})
    assert bombed.stat().st_size < 2**20
    status, summary = run_import(second, capsys, str(bombed))
    assert status == 1 and summary["skipped"] == [
        f"{pension}: not imported: {eml} is {len(bomb):,} bytes, over the limit of {2**20:,}"]
    assert summary["imported"] == [] and [item["old_ref"] for item in summary["already_imported"]] == [passport]
    assert count(second, Case) == 1


# ---------------------------------------------------------------------------------------------------
# Open cases from another system's CSV

GOOD = """reference,name,email,phone,address,agency,status,opened,assignee,notes
IQ-2291,Ana García,ana.garcia@example.com,(919) 555-0142,"12 Elm St
Durham, NC 27701",ssa,pending-agency,2025-03-14,maria,"Called SSA twice; waiting on a decision"
IQ-2292,Wang Wei 王伟,,919-555-0199,,irs-old,open,03/15/2025,Former Person,
"""


def test_a_csv_of_open_cases_loads_whole_or_not_at_all(cli_office: Hub, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    hub = cli_office
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD.replace("ana.garcia@example.com", "ana.garcia-at-example.com")
                   .replace("pending-agency", "waiting").replace("03/15/2025", "15/03/2025"), encoding="utf-8")
    capsys.readouterr()
    assert cli(hub, "import", "--csv", str(bad)) == 1
    lines = error_lines(capsys)
    assert lines == [f"hub: {bad}, row 2, column email: 'ana.garcia-at-example.com' is not an email address",
                     f"hub: {bad}, row 3, column opened: '15/03/2025' is not a date (2026-11-23, 2026-11-23T09:30 "
                     "or 11/23/2026)", "hub: 2 bad rows; nothing was imported"]
    assert count(hub, Case) == 0
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("reference,name,colour\nA-1,Pat,blue\n")
    assert cli(hub, "import", "--csv", str(unknown)) == 1
    assert error_lines(capsys) == [f"hub: {unknown}, row 1: unknown column 'colour' (columns: reference, name, email, "
                                   "phone, address, zip, agency, status, opened, assignee, subject, notes)"]

    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    status, summary = run_import(hub, capsys, "--csv", str(good))
    assert status == 0 and [item["old_ref"] for item in summary["imported"]] == ["IQ-2291", "IQ-2292"]
    assert any("agency 'irs-old' is not in this office's agencies.toml" in note for note in summary["notes"])
    assert any("assignee 'Former Person' is not on this office's staff list" in note for note in summary["notes"])
    refs = {item["old_ref"]: item["ref"] for item in summary["imported"]}
    ana, wang = case_of(hub, refs["IQ-2291"]), case_of(hub, refs["IQ-2292"])
    assert (ana.status, ana.agency, ana.assignee, ana.opened_at.date().isoformat()) == (
        "pending-agency", "ssa", hub.config.staff[0].email, "2025-03-14")
    assert (wang.status, wang.contact_channel, wang.opened_at.date().isoformat()) == ("open", "sms", "2025-03-15")
    with hub.sessions() as session:
        assert ana.constituent_id is not None and wang.constituent_id is not None
        person = session.get_one(Case, ana.id).constituent
        assert person is not None
        assert (person.name, person.email, person.phone, person.postal_address) == (
            "Ana García", "ana.garcia@example.com", "+19195550142", "12 Elm St\nDurham, NC 27701")
        notes = session.scalars(select(Event.detail).where(Event.case_id == ana.id, Event.kind == "note")).all()
        assert notes == ["Called SSA twice; waiting on a decision"]
    assert count(hub, Outbox) == 0
    assert re.fullmatch(r"CW-2[56]-\d{5}-\w\w", refs["IQ-2291"])

    status, again = run_import(hub, capsys, "--csv", str(good))
    assert status == 0 and again["imported"] == [] and len(again["already_imported"]) == 2
    assert count(hub, Case) == 2


def test_an_old_reference_this_office_could_give_itself_is_kept_but_said(
        offices: tuple[Hub, Hub], archive_of_two: tuple[Path, list[str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """One in about a thousand old references with our prefix verifies here: it is this office's to give, so
    it cannot thread to the imported case; the import says so, and a second import still skips the case."""
    _, second = offices
    path, (pension, _) = archive_of_two
    own = str(second.refs.make(26, 900))
    name = f"cases/{pension}/case.json"
    with zipfile.ZipFile(path) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        record = json.loads(opened.read(name)) | {"ref": own}
    changed = json.dumps(record).encode()
    files = manifest["files"] | {name: {"sha256": hashlib.sha256(changed).hexdigest(), "size": len(changed)}}
    archive = rewritten(path, tmp_path / "own.zip", {name: changed}, manifest={"files": files})
    status, summary = run_import(second, capsys, str(archive))
    assert status == 0 and len(summary["imported"]) == 2
    assert any(f"mail quoting {own} will not reach it: {own} is also a reference of this office" in note
               for note in summary["notes"])
    status, again = run_import(second, capsys, str(archive))
    assert again["imported"] == [] and {item["old_ref"] for item in again["already_imported"]} >= {own}

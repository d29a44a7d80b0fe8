"""`hub backup PATH` and `hub restore PATH --into DIR` (issue 17, item 6), on SQLite and PostgreSQL.

The round trip: an office with mail filed, notes, a reminder, its own letter and letters waiting is backed
up while a transaction is open on its database, the office sends a waiting letter after the backup (the
disk is lost later), and the restore gives every case back as it was, searchable, with its references
still verifying and threading; the letter that went after the backup is found in the Sent folder and not
sent again, the one that did not go goes once. A damaged backup, a folder that is not empty and a
database that is there already are refused, and nothing is written.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from hub.cli.context import EXIT_SCHEMA
from hub.cli.main import main as hub_cli
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.db import known_revisions
from hub.core.migrations import HEAD
from hub.core.models import Case, Outbox
from hub.delivery.in_doubt import IN_DOUBT
from hub.run.backup import MANIFEST
from tests.helpers import START, email, feed, make_office
from tests.integration.test_delivery import outbox
from tests.integration.test_delivery_crash import finish
from tests.integration.test_schema_upgrade import downgraded
from tests.postgres import PostgresDatabases, require
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration
LATER = START.replace(hour=16)


@pytest.fixture
def office(tmp_path: Path, database_url: str, filing_smtp: SmtpServer, sent_dovecot: DovecotServer,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """An office whose SMTP server files what it takes in the Sent folder of its IMAP inbox; its `hub`
    commands run at START."""
    hub = make_office(tmp_path / "office", database_url, inbox_url=sent_dovecot.imap_url(),
                      outbound_url=filing_smtp.url())
    monkeypatch.setattr("hub.cli.context.open_hub", lambda path, _=None: open_hub(path, FixedClock(START)))
    yield hub
    hub.close()


def restored_url(request: pytest.FixtureRequest, database_url: str, folder: Path) -> str:
    """Where the restore puts the database: a new SQLite file, or a new, empty PostgreSQL database."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{folder / 'restored.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    return databases.empty()


def cli_json(capsys: pytest.CaptureFixture[str], config: Path, *words: str) -> object:
    capsys.readouterr()
    assert hub_cli(["--config", str(config), *words, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def snapshot(capsys: pytest.CaptureFixture[str], config: Path) -> dict[str, object]:
    """`hub cases --json` and `hub case show REF --json` of every case."""
    cases = cli_json(capsys, config, "cases")
    assert isinstance(cases, list)
    return {"cases": cases, **{view["ref"]: cli_json(capsys, config, "case", "show", view["ref"]) for view in cases}}


def copies(smtp: SmtpServer, message_id: str) -> int:
    return len(smtp.by_message_id().get(message_id, []))


def test_an_office_backed_up_while_in_use_restores_whole_and_sends_nothing_twice(
        office: Hub, smtp: SmtpServer, tmp_path: Path, database_url: str, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str]) -> None:
    if database_url.startswith("postgresql"):
        require_pg_tools()
    config = office.config.path
    pat = feed(office, email(subject="My disability payments stopped", body="Nothing since October; the boiler "
                             "is broken too.", message_id="<pat-1@example.com>"))
    lucia = feed(office, email(sender="Lucía Gómez <lucia@example.org>", subject="Pasaporte urgente",
                               body="Viajo el 15 de diciembre.", message_id="<lucia-1@example.org>"))
    assert pat.case_ref and lucia.case_ref
    feed(office, email(subject=f"Re: My disability payments stopped [{pat.case_ref}]", body="Any news?",
                       message_id="<pat-2@example.com>"))
    for words in (("note", pat.case_ref, "called", "SSA"), ("followup", pat.case_ref, "14d")):
        assert hub_cli(["--config", str(config), "case", *words]) == 0
    own_letter = office.config.resolve(office.config.letters.folder) / "constituent-update.email.j2"
    own_letter.write_text("Subject: News on your case\n\nDear {{ recipient }}, we wrote to the agency.\n")
    finish(office, START)  # the acknowledgements go
    assert {row.state for row in outbox(office)} == {"sent"}
    for ref in (pat.case_ref, lucia.case_ref):  # waiting at the backup
        assert hub_cli(["--config", str(config), "letter", "send", "constituent-update", "--case", ref]) == 0
    went_after, never_went = [row for row in outbox(office) if row.state == "pending"]
    before = snapshot(capsys, config)
    backup = tmp_path / "office.tar.gz"

    with office.sessions.begin() as session:  # a writer in the middle of its transaction
        session.execute(update(Case).where(Case.id == 1).values(subject="not committed"))
        assert hub_cli(["--config", str(config), "backup", str(backup)]) == 0
        session.rollback()

    assert backup.stat().st_mode & 0o777 == 0o600
    assert "backed up the office to" in capsys.readouterr().out
    with tarfile.open(backup) as archive:
        names = archive.getnames()
    assert names[0] == MANIFEST and "config/hub.toml" in names and "letters/constituent-update.email.j2" in names
    assert "var/sent-journal" in names and not any(name.startswith(("var/inbox", "var/sent/")) for name in names)
    # After the backup the office sends one of the two; then its disk is lost.
    with office.sessions.begin() as session:
        session.execute(update(Outbox).where(Outbox.id == never_went.id).values(state="cancelled"))
    finish(office, LATER)
    assert copies(smtp, went_after.message_id) == 1 and copies(smtp, never_went.message_id) == 0

    folder = tmp_path / "restored"
    url = restored_url(request, database_url, tmp_path)
    assert hub_cli(["restore", str(backup), "--into", str(folder), "--database-url", url]) == 0
    said = capsys.readouterr().out
    assert "2 letters and texts were waiting at the backup and may have gone since: each is looked for in the " \
           "Sent folder" in said
    restored_config = folder / "config" / "hub.toml"
    assert snapshot(capsys, restored_config) == before
    assert (folder / "letters" / "constituent-update.email.j2").read_text() == own_letter.read_text()
    found = cli_json(capsys, restored_config, "search", "boiler")
    assert [match["ref"] for match in found] == [pat.case_ref]  # type: ignore[index]

    restored = open_hub(restored_config, FixedClock(LATER))
    try:
        assert restored.refs.parse(pat.case_ref) is not None, "the check codes verify: the same secret"
        assert {row.provider_id for row in outbox(restored) if row.state == "pending"} == {IN_DOUBT}
        reply = feed(restored, email(subject=f"Re: My disability payments stopped [{pat.case_ref}]",
                                     body="Still waiting.", message_id="<pat-3@example.com>"))
        assert (reply.fate, reply.case_ref) == ("case", pat.case_ref)
        finish(restored, LATER)
        assert copies(smtp, went_after.message_id) == 1, "found in the Sent folder: not sent again"
        assert copies(smtp, never_went.message_id) == 1, "not in the Sent folder: sent once"
        assert {row.id: row.state for row in outbox(restored)}[went_after.id] == "sent"
        assert {row.id: row.state for row in outbox(restored)}[never_went.id] == "sent"
    finally:
        restored.close()


def require_pg_tools() -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        require("pg_dump and pg_restore (postgresql-client) are not installed")


@pytest.fixture
def backed_up(hub: Hub, tmp_path: Path, database_url: str) -> Path:
    if database_url.startswith("postgresql"):
        require_pg_tools()
    feed(hub, email())
    backup = tmp_path / "office.tar.gz"
    assert hub_cli(["--config", str(hub.config.path), "backup", str(backup)]) == 0
    return backup


def test_a_damaged_backup_is_refused_and_nothing_is_written(
        backed_up: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(backed_up.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(bytes(data[:len(data) // 3]))
    capsys.readouterr()

    for broken in (damaged, truncated):
        assert hub_cli(["restore", str(broken), "--into", str(tmp_path / "new")]) == 1
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"hub: {broken} is damaged") and line.endswith("nothing restored")
        assert not (tmp_path / "new").exists()


def test_a_manifest_that_does_not_match_its_files_is_refused(
        backed_up: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(backed_up) as source, tarfile.open(forged, "w:gz") as target:
        for member in source:
            handle = source.extractfile(member)
            assert handle is not None
            data = handle.read()
            if member.name == "config/hub.toml":
                data = data.replace(b'name = "', b'name = "Not ', 1)
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    capsys.readouterr()
    assert hub_cli(["restore", str(forged), "--into", str(tmp_path / "new")]) == 1
    assert capsys.readouterr().err == (f"hub: {forged} is damaged: config/hub.toml does not match its checksum; "
                                       "nothing restored\n")
    assert not (tmp_path / "new").exists()


def test_a_restore_overwrites_nothing(backed_up: Path, hub: Hub, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert hub_cli(["restore", str(backed_up), "--into", str(busy)]) == 1
    assert capsys.readouterr().err == f"hub: {busy} is not an empty folder; a restore makes a new office folder " \
                                      "and overwrites nothing\n"
    assert [path.name for path in busy.iterdir()] == ["notes.txt"]

    # The office's own database is where the backup's hub.toml says: there already, so it is not touched.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert hub_cli(["restore", str(backed_up), "--into", str(empty)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "already" in line and ("not overwriting" in line or "restore into an empty database" in line), line
    assert list(empty.iterdir()) == []
    assert hub_cli(["--config", str(hub.config.path), "cases"]) == 0


def test_a_secret_from_the_environment_stays_out_of_the_backup_and_the_restore_asks_for_it(
        hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if hub.config.database_url.startswith("postgresql"):
        pytest.skip("the secret does not depend on the database")
    secret = "an-environment-secret-0123456789"
    monkeypatch.setenv("HUB_SECRET", secret)
    backup = tmp_path / "office.tar.gz"
    capsys.readouterr()
    assert hub_cli(["--config", str(hub.config.path), "backup", str(backup)]) == 0
    assert "the reference secret comes from HUB_SECRET and is not in the backup" in capsys.readouterr().out
    with tarfile.open(backup) as archive:
        handle = archive.extractfile("config/hub.toml")
        assert handle is not None and secret not in handle.read().decode()
    url = f"sqlite:///{tmp_path / 'restored.db'}"

    for environment in (None, "another-secret-of-enough-length"):
        if environment is None:
            monkeypatch.delenv("HUB_SECRET")
        else:
            monkeypatch.setenv("HUB_SECRET", environment)
        assert hub_cli(["restore", str(backup), "--into", str(tmp_path / "new"), "--database-url", url]) == 1
        assert "HUB_SECRET" in capsys.readouterr().err
        assert not (tmp_path / "new").exists() and not (tmp_path / "restored.db").exists()
    monkeypatch.setenv("HUB_SECRET", secret)
    assert hub_cli(["restore", str(backup), "--into", str(tmp_path / "new"), "--database-url", url]) == 0


def test_a_backup_of_an_older_schema_restores_and_says_to_upgrade(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if hub.config.database_url.startswith("postgresql"):
        pytest.skip("the schema's revision travels the same way in a dump: the round trip covers PostgreSQL")
    feed(hub, email())
    older = known_revisions(hub.engine)[1]
    downgraded(hub, older)
    backup = tmp_path / "office.tar.gz"
    assert hub_cli(["--config", str(hub.config.path), "backup", str(backup)]) == 0, "a backup before the upgrade"
    folder = tmp_path / "new"
    capsys.readouterr()

    assert hub_cli(["restore", str(backup), "--into", str(folder), "--database-url",
                    f"sqlite:///{tmp_path / 'restored.db'}"]) == 0

    assert f"the backup's schema is {older}, this hub needs {HEAD}: next, hub --config" in capsys.readouterr().out
    config = folder / "config" / "hub.toml"
    assert hub_cli(["--config", str(config), "cases"]) == EXIT_SCHEMA
    assert hub_cli(["--config", str(config), "db", "upgrade"]) == 0
    capsys.readouterr()
    assert hub_cli(["--config", str(config), "cases"]) == 0
    assert "Help please" in capsys.readouterr().out


def test_without_pg_dump_a_backup_of_postgresql_says_what_to_install_and_writes_nothing(
        hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if hub.config.database_url.startswith("sqlite"):
        pytest.skip("SQLite is backed up by the hub itself")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    backup = tmp_path / "office.tar.gz"
    capsys.readouterr()
    assert hub_cli(["--config", str(hub.config.path), "backup", str(backup)]) == 1
    assert capsys.readouterr().err == ("hub: pg_dump is not installed: install the PostgreSQL client (apt-get install "
                                       "postgresql-client), or dump the database with your own pg_dump and copy "
                                       "config/, the letters folder and var/ beside it\n")
    assert list(tmp_path.glob("*.tar.gz")) == [] and list(tmp_path.glob(".hub-backup-*")) == []


def test_a_backup_is_not_written_where_the_next_one_would_copy_it(
        hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    inside = hub.config.resolve("var") / "backups" / "office.tar.gz"
    inside.parent.mkdir()
    capsys.readouterr()
    assert hub_cli(["--config", str(hub.config.path), "backup", str(inside)]) == 1
    assert capsys.readouterr().err == (f"hub: {inside} is inside {hub.config.resolve('var')}, which the next backup "
                                       "would copy: write it elsewhere\n")
    assert list(inside.parent.iterdir()) == []

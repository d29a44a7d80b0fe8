"""Files stored once (issue 16, item 6), on SQLite and PostgreSQL: a file is kept once however many
messages carry or enclose it, each raw message is kept with its files' base64 cut out and comes back
byte for byte, whatever shape its sender gave the base64; damage is an error, never wrong bytes; an
upgrade from 0016 keeps every file readable; a purge drops a file only when nothing refers to it."""

from __future__ import annotations

import random
import threading
import time
from base64 import b64encode
from email import message_from_bytes
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import func, insert, select, text, update

from hub.cli.main import main
from hub.core.app import Hub
from hub.core.db import MIGRATIONS, migrate
from hub.core.errors import DamagedRecordError
from hub.core.file_store import attachment_bytes, forget_attachment_bytes, forget_message_raw, keep_file
from hub.core.models import Attachment, Case, Message, MessageFileCut, StoredFile
from hub.delivery.deliver import deliver_due
from hub.intake.drain import drain
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake
from tests.corpus import CORPUS, corpus_dir
from tests.helpers import OFFICE_ADDRESS, feed, make_office, stored_file, stored_raw
from tests.integration.test_intake_statements import ListSource

pytestmark = pytest.mark.integration
SHARED = random.Random(16).randbytes(10_000)       # in several messages: stored once
SCAN = random.Random(17).randbytes(57 * 300)        # its base64 ends on a full line
PHOTO = random.Random(18).randbytes(120_001)        # several blocks of lines, a padded last line


def mail(number: int, files: list[tuple[str, bytes]], width: int = 76, ending: bytes = b"\r\n",
         spoil: bytes = b"") -> bytes:
    """A message with `files` attached as base64 in lines of `width` ended by `ending` (`spoil` added at
    each line's end: no longer the file's own encoding, though it decodes to the same bytes)."""
    head = (f"From: Pat Example <pat@example.com>\nTo: {OFFICE_ADDRESS}\nSubject: Scans {number}\n"
            f"Message-ID: <scans.{number}@example.com>\nDate: Mon, 23 Nov 2026 14:00:00 +0000\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n"
            "--b1\nContent-Type: text/plain\n\nThe scans are attached.\n").encode().replace(b"\n", ending)
    parts = []
    for name, data in files:
        encoded = b64encode(data)
        lines = (encoded[at:at + width] + spoil for at in range(0, len(encoded), width))
        parts.append((f"--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
                      f"Content-Disposition: attachment; filename=\"{name}\"\n\n").encode().replace(b"\n", ending)
                     + ending.join(lines) + ending)
    return head + b"".join(parts) + b"--b1--" + ending


def filed(hub: Hub, raw: bytes) -> Message:
    outcome = feed(hub, raw)
    assert outcome.fate in ("new-case", "case"), outcome
    with hub.sessions() as session:
        return session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id.desc())).first()


def cuts_of(hub: Hub, message: Message) -> list[str]:
    with hub.sessions() as session:
        return list(session.scalars(select(MessageFileCut.sha256).where(MessageFileCut.message_id == message.id)
                                    .order_by(MessageFileCut.position)))


def skeleton_size(hub: Hub, message: Message) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.length(Message.raw_skeleton)).where(Message.id == message.id)) or 0


def case_ref(hub: Hub, message: Message) -> str:
    with hub.sessions() as session:
        return str(session.scalar(select(Case.ref).where(Case.id == message.case_id)))


def stored_files(hub: Hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(StoredFile)) or 0


@pytest.mark.parametrize(("width", "ending"), [(76, b"\r\n"), (76, b"\n"), (64, b"\r\n"), (72, b"\n")])
def test_each_senders_shape_comes_back_byte_for_byte_with_its_files_stored_once(
        hub: Hub, width: int, ending: bytes) -> None:
    first = mail(1, [("shared.pdf", SHARED), ("scan.pdf", SCAN), ("photo.jpg", PHOTO)], width, ending)
    again = mail(2, [("shared.pdf", SHARED), ("shared copy.pdf", SHARED)], width, ending)

    one, two = filed(hub, first), filed(hub, again)

    assert (stored_raw(hub, one), stored_raw(hub, two)) == (first, again)
    assert stored_files(hub) == 3, "the shared file once, though three attachments carry it"
    assert len(cuts_of(hub, one)) == 3 and len(cuts_of(hub, two)) == 2, "the same file attached twice: cut twice"
    assert skeleton_size(hub, one) < len(first) - len(b64encode(SHARED + SCAN + PHOTO)), "the base64 is not kept"
    assert [stored_file(hub, a) for a in two.attachments] == [SHARED, SHARED]
    assert [stored_file(hub, a) for a in one.attachments] == [SHARED, SCAN, PHOTO]


@pytest.mark.parametrize(("width", "spoil"), [(70, b""), (76, b" ")], ids=["odd-line-length", "trailing-space"])
def test_base64_that_is_not_the_files_own_encoding_stays_whole_and_comes_back(
        hub: Hub, width: int, spoil: bytes) -> None:
    raw = mail(3, [("scan.pdf", SCAN)], width, b"\r\n", spoil)

    message = filed(hub, raw)

    assert stored_raw(hub, message) == raw and cuts_of(hub, message) == []
    assert skeleton_size(hub, message) == len(raw)
    assert [stored_file(hub, a) for a in message.attachments] == [SCAN], "the file itself is read as sent"


def test_case_files_are_written_out_and_a_notice_encloses_them_from_the_one_copy(hub: Hub, tmp_path: Path) -> None:
    raw = mail(4, [("scan.pdf", SCAN), ("photo.jpg", PHOTO)])
    message = filed(hub, raw)
    ref = case_ref(hub, message)

    assert main(["--config", str(hub.config.path), "case", "files", ref, "--out", str(tmp_path / "out")]) == 0
    written = {path.name: (path.read_bytes(), path.stat().st_mode & 0o777) for path in (tmp_path / "out").iterdir()}
    assert written == {"scan.pdf": (SCAN, 0o600), "photo.jpg": (PHOTO, 0o600)}

    deliver_due(hub)
    [notice] = [raw for raw in sent_files(hub) if b'filename="scan.pdf"' in raw]
    with hub.sessions() as session:
        row = session.scalars(select(Message).where(
            Message.message_id == str(message_from_bytes(notice)["Message-ID"]).strip())).one()
    assert stored_raw(hub, row) == notice, "the sent copy is the bytes that went"
    assert sorted(cuts_of(hub, row)) == sorted(cuts_of(hub, message)), "the enclosures cut from the sent copy"
    assert stored_files(hub) == 2, "nothing stored again for the letter"


def sent_files(hub: Hub) -> list[bytes]:
    """The bytes of each message in the office's sent Maildir, as written."""
    return [path.read_bytes() for path in Path(hub.config.resolve("var/sent")).glob("*/hub-*")]


def test_damage_is_an_error_that_says_so_not_wrong_bytes(hub: Hub, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    message = filed(hub, mail(5, [("scan.pdf", SCAN)]))
    original = stored_raw(hub, message)
    assert original is not None
    with hub.engine.begin() as connection:
        kept = connection.scalar(select(Message.raw_skeleton).where(Message.id == message.id))
        connection.execute(update(Message).where(Message.id == message.id)
                           .values(raw_skeleton=kept.replace(b"Scans 5", b"Scans 6")))
    with pytest.raises(DamagedRecordError, match="do not match their SHA-256"):
        stored_raw(hub, message)

    with hub.engine.begin() as connection:
        connection.execute(update(Message).where(Message.id == message.id).values(raw_skeleton=kept))
    assert stored_raw(hub, message) == original
    with hub.engine.begin() as connection:
        connection.execute(update(MessageFileCut).where(MessageFileCut.message_id == message.id)
                           .values(position=MessageFileCut.position + 1))
    with pytest.raises(DamagedRecordError, match="do not match their SHA-256"):
        stored_raw(hub, message)

    with hub.engine.begin() as connection:
        connection.execute(update(StoredFile).values(data=b"not the scan"))
    with pytest.raises(DamagedRecordError, match="does not match its SHA-256"):
        stored_file(hub, message.attachments[0])
    capsys.readouterr()
    out = str(tmp_path / "out")
    assert main(["--config", str(hub.config.path), "case", "files", case_ref(hub, message), "--out", out]) == 1
    error = capsys.readouterr().err
    assert "does not match its SHA-256" in error and error.count("\n") == 1, error


def test_a_purge_drops_a_file_only_when_nothing_refers_to_it(hub: Hub) -> None:
    one, two = filed(hub, mail(6, [("shared.pdf", SHARED)])), filed(hub, mail(7, [("shared.pdf", SHARED)]))

    def purge(message: Message) -> None:
        with hub.sessions.begin() as session:
            row = session.get_one(Message, message.id)
            forget_message_raw(session, row)
            for attachment in row.attachments:
                forget_attachment_bytes(session, attachment)

    purge(one)
    assert (stored_raw(hub, one), files_of(hub, one)) == (None, [None])
    assert stored_files(hub) == 1 and files_of(hub, two) == [SHARED], "the other still has it"
    assert stored_raw(hub, two) == mail(7, [("shared.pdf", SHARED)])
    purge(two)
    assert stored_files(hub) == 0
    assert filed(hub, mail(8, [("shared.pdf", SHARED)])).attachments[0].sha256 is not None, "stored again"


def files_of(hub: Hub, message: Message) -> list[bytes | None]:
    """The bytes of the message's files as they stand now."""
    with hub.sessions() as session:
        return [attachment_bytes(session, a) for a in session.get_one(Message, message.id).attachments]


def test_a_file_a_writer_holds_is_not_dropped_by_a_purge_running_at_once(hub: Hub) -> None:
    if hub.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    message = filed(hub, mail(9, [("scan.pdf", SCAN)]))
    with hub.sessions.begin() as session:
        forget_message_raw(session, session.get_one(Message, message.id))  # the attachment is the last reference
    writer = hub.engine.connect()
    transaction = writer.begin()
    sha256 = keep_file(writer, SCAN)  # found stored: held until this transaction ends
    purged = threading.Event()

    def purge() -> None:
        with hub.sessions.begin() as session:
            forget_attachment_bytes(session, session.get_one(Attachment, message.attachments[0].id))
        purged.set()

    purger = threading.Thread(target=purge)
    purger.start()
    time.sleep(0.5)
    assert not purged.is_set(), "the purge waits for the writer"
    writer.execute(insert(Attachment).values(message_id=message.id, filename="again.pdf", size=len(SCAN),
                                             sha256=sha256))
    transaction.commit()
    writer.close()
    purger.join(10)
    assert purged.is_set()
    with hub.sessions() as session:
        again = session.scalars(select(Attachment).where(Attachment.filename == "again.pdf")).one()
        assert attachment_bytes(session, again) == SCAN


def test_the_upgrade_to_files_stored_once_keeps_every_file_and_message_and_cuts_them(
        tmp_path: Path, database_url: str) -> None:
    hub = make_office(tmp_path / "office", database_url)
    try:
        raws = [mail(10, [("shared.pdf", SHARED), ("scan.pdf", SCAN)]), mail(11, [("shared.pdf", SHARED)], 64, b"\n")]
        messages = [filed(hub, raw) for raw in raws]
        deliver_due(hub)  # the notices enclose the files
        with hub.sessions() as session:
            sent = {m.id: kept_raw(hub, m) for m in session.scalars(select(Message).where(
                Message.direction == "out"))}
        alembic = AlembicConfig()
        alembic.set_main_option("script_location", str(MIGRATIONS))
        alembic.attributes["engine"] = hub.engine
        command.downgrade(alembic, "0018")  # the revision before files were stored once
        with hub.engine.connect() as connection:  # as they were kept before: whole, in the rows
            assert [connection.scalar(text("SELECT raw FROM messages WHERE id = :id"), {"id": m.id})
                    for m in messages] == raws
            assert sorted(bytes(data) for data in connection.scalars(text("SELECT data FROM attachments"))) == \
                sorted([SHARED, SCAN, SHARED])

        migrate(hub.engine)

        assert [stored_raw(hub, m) for m in messages] == raws
        assert [[stored_file(hub, a) for a in m.attachments] for m in messages] == [[SHARED, SCAN], [SHARED]]
        assert stored_files(hub) == 2 and [len(cuts_of(hub, m)) for m in messages] == [2, 1]
        with hub.sessions() as session:
            rows = [session.get_one(Message, row_id) for row_id in sent]
        assert [stored_raw(hub, row) for row in rows] == list(sent.values())
        assert any(cuts_of(hub, row) for row in rows), "a sent copy is cut too"
    finally:
        hub.close()


def kept_raw(hub: Hub, message: Message) -> bytes:
    raw = stored_raw(hub, message)
    assert raw is not None
    return raw


def test_real_mail_with_attachments_comes_back_byte_for_byte(tmp_path: Path, database_url: str) -> None:
    corpus_dir("sisimai-set-of-emails")
    hub = make_office(tmp_path / "office", database_url)
    try:
        files = sorted(path for path in CORPUS.rglob("*") if path.is_file() and path.stat().st_size < 2_000_000
                       and b"base64" in path.read_bytes().lower())
        checked = cut = 0
        for path in files:
            raw = path.read_bytes()
            if feed(hub, raw).fate not in ("new-case", "case", "triage"):
                continue
            with hub.sessions() as session:
                message = session.scalars(select(Message).where(Message.direction == "in")
                                          .order_by(Message.id.desc())).first()
            assert stored_raw(hub, message) == raw, path
            checked += 1
            cut += bool(cuts_of(hub, message))
        assert checked > 50 and cut > 10, (checked, cut)
    finally:
        hub.close()


def test_files_drained_in_a_batch_are_stored_once_and_come_back(hub: Hub) -> None:
    """In a drained batch (on PostgreSQL pipelined: a file's insert is not waited for, hub.core.file_store) a file
    stored before the batch, and one carried twice in it, are each stored once."""
    one = filed(hub, mail(1, [("shared.pdf", SHARED)]))
    raws = [mail(2, [("shared.pdf", SHARED), ("scan.pdf", SCAN)]), mail(3, [("scan.pdf", SCAN), ("photo.jpg", PHOTO)])]
    source = ListSource(raws)
    summary = drain(Intake.of(hub), source, parse_email)

    assert summary.total == 2 and len(source.acknowledged) == 2
    assert stored_files(hub) == 3
    with hub.sessions() as session:
        two, three = session.scalars(select(Message).where(Message.id > one.id).order_by(Message.id)).all()
        assert [stored_raw(hub, message) for message in (two, three)] == raws
        assert [[stored_file(hub, a) for a in m.attachments] for m in (two, three)] == [[SHARED, SCAN], [SCAN, PHOTO]]

"""Oversized mail: every source learns a message's size before reading it. A message over [limits]
max_message_bytes is held in quarantine by its header alone and stays at its source (a file where it
is, a Maildir's .Quarantine, an IMAP Quarantine folder); a message at the limit goes through whole;
and the hub's peak memory with a 200 MB message stays within 100 MB of its peak with a small one."""

from __future__ import annotations

import hashlib
import mailbox
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from hub.cli.main import main
from hub.core.app import Hub, open_hub
from hub.core.file_store import raw_of
from hub.core.models import Message, QuarantineItem
from hub.intake.drain import drain
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake
from hub.run.cycle import drain_inbox
from hub.sources.files import FileSource
from tests.bigmail import append_file, run_hub_measured, write_big_message
from tests.helpers import email, make_office, tally
from tests.integration.test_imap import folder_counts
from tests.servers.dovecot import DovecotServer

pytestmark = pytest.mark.integration
LIMIT = 100_000
MB = 1024 * 1024
BIG = 200 * MB
HEADER_CAP = 64 * 1024


def limited(hub: Hub, limit: int = LIMIT) -> Hub:
    """The office with [limits] max_message_bytes = `limit`, in its file (for the command line) and in hand."""
    path = hub.config.path
    path.write_text(re.sub(r"(?m)^max_message_bytes = \d+$", f"max_message_bytes = {limit}", path.read_text()))
    return replace(hub, config=replace(hub.config, limits=replace(hub.config.limits, max_message_bytes=limit)))


def over_limit(size: int, limit: int = LIMIT) -> str:
    return f"message of {size} bytes is over the {limit}-byte limit ([limits] max_message_bytes)"


def held(hub: Hub) -> list[QuarantineItem]:
    with hub.sessions() as session:
        return list(session.scalars(select(QuarantineItem).order_by(QuarantineItem.id)))


def stored_raw(hub: Hub, message_id: str) -> bytes | None:
    with hub.engine.connect() as connection:
        return raw_of(connection, connection.scalars(select(Message.id).where(Message.message_id == message_id)).one())


def test_an_oversized_file_is_held_by_its_header_and_stays_where_it_is(hub: Hub, tmp_path: Path) -> None:
    office = limited(hub)
    big, at_limit = tmp_path / "big.eml", tmp_path / "at-limit.eml"
    header = write_big_message(big, LIMIT + 1)
    write_big_message(at_limit, LIMIT, sender="Lee Example <lee@example.com>", message_id="<at-limit@example.com>")

    summary = drain(Intake.of(office), FileSource([big, at_limit], LIMIT), parse_email)

    assert summary.fates == Counter({"quarantine": 1, "new-case": 1})
    [item] = held(office)
    assert (item.raw, item.size, item.source) == (header, LIMIT + 1, "ingest:big.eml")
    assert (item.reason, item.whole_message_at) == (over_limit(LIMIT + 1), str(big.resolve()))
    assert big.stat().st_size == LIMIT + 1, "the file is left as it was"
    assert stored_raw(office, "<at-limit@example.com>") == at_limit.read_bytes(), "a message at the limit goes whole"
    again = drain(Intake.of(office), FileSource([big], LIMIT), parse_email)
    assert again.fates == Counter({"quarantine": 1}) and len(held(office)) == 1, "held once however often it comes"


def test_a_huge_message_inside_an_mbox_is_held_by_its_header_and_the_others_filed(hub: Hub, tmp_path: Path) -> None:
    office = limited(hub)
    big = tmp_path / "big.eml"
    header = write_big_message(big, 3 * LIMIT)
    small = [email(sender=f"p{n}@example.com", message_id=f"<m{n}@example.com>")
             for n in range(2)]
    from_line = b"From sender@example.com Mon Nov 23 10:00:00 2026\n"
    archive = tmp_path / "old.mbox"
    archive.write_bytes(from_line + small[0] + b"\n" + from_line + big.read_bytes() + b"\n" + from_line + small[1])
    start = len(from_line + small[0] + b"\n" + from_line)

    summary = drain(Intake.of(office), FileSource([archive], LIMIT), parse_email)

    assert summary.fates == Counter({"new-case": 2, "quarantine": 1})
    [item] = held(office)
    assert (item.raw, item.size, item.source) == (header, 3 * LIMIT, "ingest:old.mbox#2")
    assert item.whole_message_at == f"{archive.resolve()}, message 2 (bytes {start}-{start + 3 * LIMIT})"
    standard = mailbox.mbox(str(archive), create=False)
    try:
        assert [stored_raw(office, f"<m{n}@example.com>") for n in range(2)] == [
            standard.get_bytes(0), standard.get_bytes(2)], "the others read as the standard library reads them"
    finally:
        standard.close()


def test_an_oversized_maildir_message_moves_to_quarantine_unread(hub: Hub) -> None:
    office = limited(hub)
    inbox = office.config.resolve("var/inbox")
    (inbox / "new").mkdir(parents=True, exist_ok=True)
    header = write_big_message(inbox / "new" / "1700000000.big.host", 2 * LIMIT)
    (inbox / "new" / "1700000001.small.host").write_bytes(email(message_id="<small@example.com>"))

    assert drain_inbox(office).fates == Counter({"quarantine": 1, "new-case": 1})

    [item] = held(office)
    kept = inbox / ".Quarantine" / "cur" / "1700000000.big.host:2,S"
    assert (item.raw, item.size, item.whole_message_at) == (header, 2 * LIMIT, str(kept))
    assert kept.stat().st_size == 2 * LIMIT
    assert [p.name for p in (inbox / ".Processed" / "cur").iterdir()] == ["1700000001.small.host:2,S"]
    assert not list((inbox / "new").iterdir())


def test_oversized_imap_messages_are_fetched_by_header_and_moved_to_quarantine(
        imap_office: Hub, dovecot: DovecotServer, tmp_path: Path) -> None:
    office = limited(imap_office)
    headers = {}
    for name, size in (("over", LIMIT + 1), ("at-limit", LIMIT), ("far-over", 5 * LIMIT)):
        path = tmp_path / f"{name}.eml"
        headers[name] = write_big_message(path, size, message_id=f"<{name}@example.com>")
        append_file(dovecot.host, dovecot.port, dovecot.user, dovecot.password, path)
    # A header that never ends: only its first 64 KiB are read.
    bomb = tmp_path / "bomb.eml"
    bomb.write_bytes(b"Subject: no end\r\nX-Filler: " + b"y" * (3 * LIMIT) + b"\r\n")
    append_file(dovecot.host, dovecot.port, dovecot.user, dovecot.password, bomb)

    assert drain_inbox(office).fates == Counter({"quarantine": 3, "new-case": 1})

    assert folder_counts(dovecot) == {"INBOX": 0, "Processed": 1, "Quarantine": 3}
    items = held(office)
    assert [(i.raw, i.size) for i in items] == [(headers["over"], LIMIT + 1), (headers["far-over"], 5 * LIMIT),
                                                (bomb.read_bytes()[:HEADER_CAP], bomb.stat().st_size)]
    assert {i.whole_message_at for i in items} == {office.config.inbox.url.replace("/INBOX", "/Quarantine")}
    assert [i.reason for i in items] == [over_limit(LIMIT + 1), over_limit(5 * LIMIT), over_limit(bomb.stat().st_size)]
    assert stored_raw(office, "<at-limit@example.com>") == (tmp_path / "at-limit.eml").read_bytes()
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
        client.login(dovecot.user, dovecot.password)
        client.select_folder("Quarantine", readonly=True)
        sizes = sorted(d[b"RFC822.SIZE"] for d in client.fetch(client.search(), ["RFC822.SIZE"]).values())
    assert sizes == sorted([LIMIT + 1, 5 * LIMIT, bomb.stat().st_size]), "the messages themselves are whole"


def test_without_move_an_oversized_imap_message_is_flagged_and_its_item_says_so(
        imap_office: Hub, dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.sources import imap

    original = imap.ImapSource.__init__

    def without_move(self: imap.ImapSource, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.can_move = False  # as on a server that does not offer MOVE (RFC 6851)

    monkeypatch.setattr(imap.ImapSource, "__init__", without_move)
    office = limited(imap_office)
    big = tmp_path / "big.eml"
    header = write_big_message(big, 2 * LIMIT)
    append_file(dovecot.host, dovecot.port, dovecot.user, dovecot.password, big)

    assert drain_inbox(office).fates == Counter({"quarantine": 1})

    [item] = held(office)
    assert (item.raw, item.whole_message_at) == (header, f"{office.config.inbox.url}, flagged $HubQuarantined")
    assert folder_counts(dovecot) == {"INBOX": 1}
    assert drain_inbox(office).total == 0, "the flag keeps it from being read again"


def test_quarantine_list_shows_an_oversized_message_and_retry_says_where_it_is(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    office = limited(hub)
    big = tmp_path / "big.eml"
    write_big_message(big, LIMIT + 1, subject="Scans of my discharge papers")
    config = ["--config", str(office.config.path)]
    assert main([*config, "ingest", str(big)]) == 0
    capsys.readouterr()

    assert main([*config, "quarantine", "list"]) == 0
    listing = capsys.readouterr().out
    assert over_limit(LIMIT + 1) in listing
    assert "header only: Pat Example <pat@example.com>, \"Scans of my discharge papers\"" in listing
    assert f"the message is at {big.resolve()}" in listing

    assert main([*config, "quarantine", "retry", "1"]) == 1
    error = capsys.readouterr().err
    assert error == (f"hub: quarantine item 1: {over_limit(LIMIT + 1)}; only its header is held here, the message "
                     f"is at {big.resolve()}: raise the limit and read it again from there, then discard this item\n")

    limited(hub, 2 * LIMIT)  # what the error says to do
    assert main([*config, "ingest", str(big)]) == 0
    assert capsys.readouterr().out.startswith("1 messages: 1 new-case")
    assert main([*config, "quarantine", "discard", "1"]) == 0


def test_ingesting_a_200_mb_message_peaks_within_100_mb_of_a_small_one(tmp_path: Path, database_url: str) -> None:
    office = make_office(tmp_path / "office", database_url)
    office.close()
    assert BIG > office.config.limits.max_message_bytes, "the default limit must hold the message back"
    config = office.config.path
    small = tmp_path / "small.eml"
    small.write_bytes(email(message_id="<small@example.com>"))
    big = tmp_path / "big.eml"
    header = write_big_message(big, BIG)
    try:
        baseline = run_hub_measured(config, "ingest", str(small), folder=tmp_path)
        assert (baseline.returncode, baseline.stdout.splitlines()[0]) == (0, "1 messages: 1 new-case"), \
            baseline.stderr
        measured = run_hub_measured(config, "ingest", str(big), folder=tmp_path)
        assert (measured.returncode, measured.stdout.splitlines()[0]) == (0, "1 messages: 1 quarantine"), \
            measured.stderr
    finally:
        big.unlink()
    print(f"hub ingest peak RSS: small message {baseline.peak_bytes / MB:.1f} MB, "
          f"200 MB message {measured.peak_bytes / MB:.1f} MB")
    assert measured.peak_bytes < baseline.peak_bytes + 100 * MB
    reopened = open_hub(config)
    try:
        [item] = held(reopened)
        assert (item.raw, item.size) == (header, BIG)
    finally:
        reopened.close()


def test_two_200_mb_messages_over_imap_peak_within_100_mb_of_small_ones(
        tmp_path: Path, dovecot: DovecotServer, database_url: str) -> None:
    office = make_office(tmp_path / "office", database_url, inbox_url=dovecot.imap_url())
    office.close()
    config, env = office.config.path, {"HUB_INBOX_PASSWORD": dovecot.password}

    def append_small(n: int) -> None:
        path = tmp_path / f"small{n}.eml"
        path.write_bytes(email(sender=f"p{n}@example.com", message_id=f"<small{n}@example.com>").replace(
            b"\n", b"\r\n"))
        append_file(dovecot.host, dovecot.port, dovecot.user, dovecot.password, path)

    for n in range(2):
        append_small(n)
    baseline = run_hub_measured(config, "run", "--once", env=env, folder=tmp_path)
    assert (baseline.returncode, baseline.stdout.splitlines()[0]) == (0, "2 messages: 2 new-case"), baseline.stderr
    big = tmp_path / "big.eml"
    headers = []
    append_small(2)
    for n in range(2):
        headers.append(write_big_message(big, BIG, message_id=f"<big{n}@example.com>"))
        append_file(dovecot.host, dovecot.port, dovecot.user, dovecot.password, big)
        append_small(3 + n)
    big.unlink()

    measured = run_hub_measured(config, "run", "--once", env=env, folder=tmp_path)

    assert (measured.returncode, measured.stdout.splitlines()[0]) == (0, "5 messages: 3 new-case, 2 quarantine"), \
        measured.stderr
    print(f"hub run --once peak RSS: 2 small messages {baseline.peak_bytes / MB:.1f} MB, "
          f"3 small and 2 of 200 MB {measured.peak_bytes / MB:.1f} MB")
    assert measured.peak_bytes < baseline.peak_bytes + 100 * MB
    assert folder_counts(dovecot) == {"INBOX": 0, "Processed": 5, "Quarantine": 2}
    reopened = open_hub(config)
    try:
        assert [(i.raw, i.size) for i in held(reopened)] == [(h, BIG) for h in headers]
        assert tally(reopened).messages == 5
    finally:
        reopened.close()


def same_bytes(stored: bytes | None, path: Path) -> bool:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MB):
            digest.update(block)
    return stored is not None and hashlib.sha256(stored).digest() == digest.digest()


def test_a_message_at_the_default_limit_is_filed_whole_within_its_size_plus_100_mb(
        tmp_path: Path, database_url: str) -> None:
    office = make_office(tmp_path / "office", database_url)
    office.close()
    config, limit = office.config.path, office.config.limits.max_message_bytes
    small = tmp_path / "small.eml"
    small.write_bytes(email(message_id="<small@example.com>"))
    at_limit = tmp_path / "at-limit.eml"
    write_big_message(at_limit, limit, sender="Lee Example <lee@example.com>", message_id="<at-limit@example.com>")
    baseline = run_hub_measured(config, "ingest", str(small), folder=tmp_path)
    measured = run_hub_measured(config, "ingest", str(at_limit), folder=tmp_path)
    assert (measured.returncode, measured.stdout.splitlines()[0]) == (0, "1 messages: 1 new-case"), measured.stderr
    print(f"hub ingest peak RSS: small message {baseline.peak_bytes / MB:.1f} MB, "
          f"{limit / MB:.0f} MB message {measured.peak_bytes / MB:.1f} MB")
    assert measured.peak_bytes < baseline.peak_bytes + limit + 100 * MB
    reopened = open_hub(config)
    try:
        assert same_bytes(stored_raw(reopened, "<at-limit@example.com>"), at_limit)
    finally:
        reopened.close()
        at_limit.unlink()


def test_a_message_at_the_default_limit_over_imap_is_filed_whole_within_its_size_plus_100_mb(
        tmp_path: Path, dovecot: DovecotServer, database_url: str) -> None:
    office = make_office(tmp_path / "office", database_url, inbox_url=dovecot.imap_url())
    office.close()
    config, limit = office.config.path, office.config.limits.max_message_bytes
    env = {"HUB_INBOX_PASSWORD": dovecot.password}
    dovecot.deliver(email(message_id="<small@example.com>"))
    baseline = run_hub_measured(config, "run", "--once", env=env, folder=tmp_path)
    at_limit = tmp_path / "at-limit.eml"
    write_big_message(at_limit, limit, sender="Lee Example <lee@example.com>", message_id="<at-limit@example.com>")
    append_file(dovecot.host, dovecot.port, dovecot.user, dovecot.password, at_limit)
    measured = run_hub_measured(config, "run", "--once", env=env, folder=tmp_path)
    assert (measured.returncode, measured.stdout.splitlines()[0]) == (0, "1 messages: 1 new-case"), measured.stderr
    print(f"hub run --once peak RSS: small message {baseline.peak_bytes / MB:.1f} MB, "
          f"{limit / MB:.0f} MB message {measured.peak_bytes / MB:.1f} MB")
    assert measured.peak_bytes < baseline.peak_bytes + limit + 100 * MB
    assert folder_counts(dovecot) == {"INBOX": 0, "Processed": 2}
    reopened = open_hub(config)
    try:
        assert same_bytes(stored_raw(reopened, "<at-limit@example.com>"), at_limit)
    finally:
        reopened.close()
        at_limit.unlink()

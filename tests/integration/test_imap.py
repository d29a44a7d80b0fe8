"""The IMAP source against a private Dovecot: fetch, move after commit, quarantine folder, cursor, messages
another client moved away before our move, and a process killed in the middle of a batch that loses and
duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from hub.core.app import Hub, open_hub
from hub.core.leases import holder_of
from hub.core.models import Message, Outbox, SourceCursor
from hub.run.cycle import drain_inbox, inbox_lease_name, inbox_source
from tests.helpers import email, make_office, tally
from tests.hub_process import wait_until
from tests.servers.dovecot import DovecotServer

pytestmark = pytest.mark.integration


def folder_counts(server: DovecotServer) -> dict[str, int]:
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        counts = {}
        for _, _, name in client.list_folders():
            counts[name] = client.folder_status(name, ["MESSAGES"])[b"MESSAGES"]
        return counts


def test_mail_is_filed_then_moved_and_a_second_run_changes_nothing(imap_office: Hub, dovecot: DovecotServer) -> None:
    dovecot.deliver_many([email(sender=f"p{n}@example.com", message_id=f"<n{n}@example.com>") for n in range(5)])
    dovecot.deliver(b"")
    dovecot.deliver(b"\x00garbage without headers")
    summary = drain_inbox(imap_office)
    assert (summary.fates["new-case"], summary.fates["quarantine"]) == (5, 2)
    assert folder_counts(dovecot) == {"INBOX": 0, "Processed": 5, "Quarantine": 2}
    before = tally(imap_office)
    assert drain_inbox(imap_office).total == 0
    assert tally(imap_office) == before
    with imap_office.sessions() as session:
        cursor = session.scalars(select(SourceCursor)).one()
        assert cursor.position == 7 and cursor.validity and cursor.last_success_at is not None


def test_new_mail_after_a_run_is_picked_up(imap_office: Hub, dovecot: DovecotServer) -> None:
    dovecot.deliver(email(message_id="<a@example.com>"))
    assert drain_inbox(imap_office).fates["new-case"] == 1
    dovecot.deliver(email(message_id="<b@example.com>", sender="b@example.com"))
    assert drain_inbox(imap_office).fates["new-case"] == 1
    assert tally(imap_office).cases == 2


def test_without_move_messages_are_flagged_and_not_read_again(imap_office: Hub, dovecot: DovecotServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.sources import imap

    original = imap.ImapSource.__init__

    def without_move(self: imap.ImapSource, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.can_move = False  # as on a server that does not offer MOVE (RFC 6851)

    monkeypatch.setattr(imap.ImapSource, "__init__", without_move)
    dovecot.deliver_many([email(message_id="<f1@example.com>"), b""])
    assert drain_inbox(imap_office).total == 2
    with imap_office.sessions() as session:  # forget the cursor: the keywords alone must keep them from coming back
        session.query(SourceCursor).delete()
        session.commit()
    assert drain_inbox(imap_office).total == 0
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as client:
        client.login(dovecot.user, dovecot.password)
        client.select_folder("INBOX", readonly=True)
        flags = {tuple(sorted(f)) for f in client.get_flags(client.search()).values()}
    assert flags == {(b"$HubProcessed",), (b"$HubQuarantined",)}


def test_messages_another_client_moved_away_before_our_move_are_done(imap_office: Hub, dovecot: DovecotServer) -> None:
    dovecot.deliver_many([email(sender=f"p{n}@example.com", message_id=f"<g{n}@example.com>") for n in range(10)])
    with inbox_source(imap_office) as source:
        batches = source.batches()
        batch = next(batches)
        with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as other:  # another process files half
            other.login(dovecot.user, dovecot.password)
            other.create_folder("Processed")
            other.select_folder("INBOX")
            other.move([item.key for item in batch[:5]], "Processed")
        source.acknowledge([item.key for item in batch], [])
        assert list(batches) == []
    assert folder_counts(dovecot) == {"INBOX": 0, "Processed": 10}
    with imap_office.sessions() as session:
        assert session.scalars(select(SourceCursor)).one().position == 10


def _crash_office(tmp_path: Path, dovecot: DovecotServer, database_url: str) -> Path:
    hub = make_office(tmp_path / "crash-office", database_url, inbox_url=dovecot.imap_url())
    hub.close()
    config = hub.config.path
    config.write_text(config.read_text().replace("batch_size = 250", "batch_size = 50"))
    return config


def _lease_is_free(hub: Hub) -> bool:
    with hub.sessions() as session:
        holding = holder_of(session, inbox_lease_name(hub))
    return holding is None or not holding.live


def _stored(hub: Hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


def test_killed_in_the_middle_of_a_batch_the_rerun_loses_and_duplicates_nothing(
        tmp_path: Path, dovecot: DovecotServer, database_url: str) -> None:
    total = 400
    raws = [email(sender=f"p{n}@example.com", message_id=f"<k{n}@example.com>", body=f"case {n}\n" * 40)
            for n in range(total)]
    raws += [b""] * 3  # quarantined items must be neither lost nor doubled either
    dovecot.deliver_many(raws)
    config = _crash_office(tmp_path, dovecot, database_url)
    watcher = open_hub(config)
    env = {**os.environ, "HUB_INBOX_PASSWORD": dovecot.password}
    command = [sys.executable, "-m", "hub", "--config", str(config), "run", "--once"]
    kills = 0
    for threshold in (70, 160, 260):  # kill at three points, each in the middle of a 50-message batch
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _stored(watcher) < threshold and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
        # The killed run's inbox lease lapses within its term (15 s); a run started before that leaves the inbox
        # to the holder it cannot know is dead.
        wait_until(lambda: _lease_is_free(watcher), 30, "the killed run's inbox lease to lapse")
    assert kills >= 2, "the runs finished before they could be killed; the test proves nothing"
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    counts = tally(watcher)
    assert (counts.messages, counts.cases, counts.quarantine) == (total, total, 1)
    with watcher.sessions() as session:
        acknowledgement = Outbox.letter == "acknowledgement"
        acks = session.scalar(select(func.count()).select_from(Outbox).where(acknowledgement)) or 0
        distinct = session.scalar(select(func.count(func.distinct(Outbox.case_id))).where(acknowledgement))
    assert acks == distinct == total, "exactly one acknowledgement per case"
    assert folder_counts(dovecot) == {"INBOX": 0, "Processed": total, "Quarantine": 3}
    watcher.close()


def test_a_position_the_busy_sqlite_file_refused_is_saved_with_the_next_batch_and_stops_nothing(
        tmp_path: Path, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # On SQLite the position is written from the IMAP thread while intake files the next batch, one commit a
    # message; a loaded machine can keep its writer waiting past the lock's timeout. Messages already moved
    # are not read again, so the position can wait for the next batch, and the drain goes on.
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    monkeypatch.setenv("HUB_INBOX_PASSWORD", dovecot.password)
    database = tmp_path / "hub.db"
    hub = make_office(tmp_path / "office", f"sqlite:///{database}", inbox_url=dovecot.imap_url())
    try:
        dovecot.deliver_many([email(sender=f"p{n}@example.com", message_id=f"<busy{n}@example.com>") for n in range(6)])
        impatient = create_engine(f"sqlite:///{database}", connect_args={"timeout": 0.2})
        with inbox_source(hub) as source:
            source.sessions = sessionmaker(impatient, expire_on_commit=False)
            batches = source.batches()
            batch = next(batches)
            holder = sqlite3.connect(database, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another writer keeps the file past the timeout
            source.acknowledge([item.key for item in batch[3:]], [])
            wait_until(lambda: "position" in caplog.text, 10, "the position's refusal logged")
            holder.execute("ROLLBACK")
            holder.close()
            source.acknowledge([item.key for item in batch[:3]], [])  # lower UIDs: the refused one must follow
            assert list(batches) == []
        impatient.dispose()
        assert folder_counts(dovecot) == {"INBOX": 0, "Processed": 6}
        with hub.sessions() as session:
            assert session.scalars(select(SourceCursor)).one().position == 6
    finally:
        hub.close()

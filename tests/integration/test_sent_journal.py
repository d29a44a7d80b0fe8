"""The sent journal (hub.delivery.sent_journal), on SQLite and PostgreSQL, against a real SMTP server (aiosmtpd).

- A letter whose acceptance reached the journal but not the database (the process killed right after
  the server's 250) is marked sent and recorded once by the next pass, and not sent again, even once its
  lease has run out; so with a real `hub run --once` killed while its mark waits on a database lock.
- A torn last line, an unreadable line, and lines for a row that is gone or failed are skipped and
  logged (without addresses); the pass goes on and the journal is emptied.
- A pass that marked a row from the journal while its sender was still on its way to the mark: the
  sender's mark changes nothing and the letter is recorded once.
- The journal is the service user's alone (0600) whatever the umask, and a pass empties it only when no
  other process is sending; a journal that cannot be used is logged and delivery goes on without it.
- A letter's mark, which on PostgreSQL goes without waiting for its answer, has committed before the server
  can accept the next letter, however slow the mark; one that failed stops the pass before the next letter's
  DATA, and the journal's line marks its letter at the next pass, which sends it no second time.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import OperationalError

from hub.core.app import Hub
from hub.core.clock import as_utc
from hub.core.models import Outbox
from hub.delivery.deliver import LEASE, deliver_due
from hub.delivery.mark_ahead import MarkFailed
from hub.delivery.sent_journal import Accepted, SentJournal, journal_lines, journal_path
from hub.delivery.sent_record import SentMarks, record_unrecorded
from tests.helpers import START, make_office
from tests.hub_process import wait_until
from tests.integration.test_delivery import clock_of, outbox
from tests.integration.test_delivery_crash import REPLY, finish, hub_once, sent_records, write_in
from tests.postgres import PostgresDatabases, end_other_connections, require
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    yield hub
    hub.close()


def refused_once(office: Hub, smtp: SmtpServer, person: int = 0) -> tuple[Outbox, Outbox]:
    """A constituent's acknowledgement and the caseworker's notice, rendered by a first attempt that the
    server refused for now: pending, with their text on the row, as a claimed row is when it goes."""
    write_in(office, person, 1)
    smtp.fail_next(2)
    assert deliver_due(office).counts == {"retrying": 2}
    first, second = outbox(office)[-2:]
    assert first.body and second.body
    return first, second


def claim(office: Hub, row: Outbox, owner: str = "killed") -> None:
    """What a delivery pass's claim leaves on the row it then sends."""
    with office.sessions.begin() as session:
        session.execute(update(Outbox).where(Outbox.id == row.id).values(
            state="sending", lease_until=office.clock.now() + LEASE, lease_owner=owner))


def journal(office: Hub, row: Outbox, at: datetime, reply: str = REPLY) -> None:
    """The line the sending process writes right after the server's acceptance, before its mark."""
    line = SentJournal(journal_path(office.config), row.id, at)
    line.open()
    line.write(reply)
    line.close()


def test_a_letter_only_the_journal_knows_went_is_marked_and_recorded_once_and_not_sent_again(
        office: Hub, smtp: SmtpServer) -> None:
    acknowledgement, notice = refused_once(office, smtp)
    clock = clock_of(office)
    clock.advance(timedelta(minutes=2))  # past the retry's pause
    sent_at = clock.now()
    claim(office, acknowledgement)
    journal(office, acknowledgement, sent_at)  # and the process was killed here
    assert journal_path(office.config).stat().st_size > 0

    clock.advance(timedelta(seconds=30))  # the lease has not run out
    assert deliver_due(office).counts == {"sent": 1}, "the notice went; the acknowledgement was sent already"
    assert [message.message_id for message in smtp.messages] == [notice.message_id]
    (marked,) = [row for row in outbox(office) if row.id == acknowledgement.id]
    assert (marked.state, marked.unrecorded, marked.provider_id, marked.attempts, marked.lease_owner) == (
        "sent", False, REPLY, 2, None)
    assert marked.sent_at is not None and as_utc(marked.sent_at) == sent_at
    assert sent_records(office) == {acknowledgement.message_id: 1, notice.message_id: 1}
    lines = journal_path(office.config).read_text().splitlines()
    assert [line.split()[0] for line in lines] == [str(notice.id)], "emptied first; the notice's line since"

    clock.advance(LEASE * 2)  # long after the lease would have run out
    assert deliver_due(office).counts == {}
    assert len(smtp.messages) == 1
    assert sent_records(office) == {acknowledgement.message_id: 1, notice.message_id: 1}
    assert journal_path(office.config).stat().st_size == 0


@pytest.fixture
def hold_outbox(office: Hub) -> Iterator[tuple[Callable[[], None], Callable[[], None]]]:
    """(take, release): take makes every write to the outbox table wait (from any thread), release ends
    that; on PostgreSQL release first ends the sessions left waiting, as their process is gone."""
    url = office.engine.url
    if url.get_backend_name() == "sqlite":
        assert url.database
        blocker = sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)

        def take() -> None:
            blocker.execute("BEGIN IMMEDIATE")

        def release() -> None:
            blocker.execute("ROLLBACK")
        yield take, release
        blocker.close()
        return
    with office.engine.connect() as connection, office.engine.connect() as other:
        def take_lock() -> None:
            connection.execute(text("LOCK TABLE outbox IN EXCLUSIVE MODE"))

        def release_lock() -> None:
            # The killed process's UPDATE would still run once the lock is gone: end it first.
            other.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND wait_event_type = 'Lock'"))
            other.commit()
            connection.rollback()
        yield take_lock, release_lock


def test_a_hub_killed_between_the_journal_line_and_the_mark_sends_nothing_twice(
        office: Hub, smtp: SmtpServer, hold_outbox: tuple[Callable[[], None], Callable[[], None]]) -> None:
    take, release = hold_outbox
    write_in(office, 0, 1)
    accepted: list[CapturedMessage] = []
    taken = threading.Lock()

    def first_data(message: CapturedMessage) -> None:
        with taken:
            if not accepted:
                take()  # before the server's 250: the mark will wait, the journal's line will not
            accepted.append(message)
    smtp.on_data(first_data)
    path = journal_path(office.config)
    process = hub_once(office, START)
    try:
        wait_until(lambda: path.exists() and path.read_bytes().endswith(b"\n"), 60, "the journal's line")
        process.send_signal(signal.SIGKILL)
        assert process.wait(60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        release()
    smtp.on_data(None)
    assert len(accepted) == 1
    (sending,) = [row for row in outbox(office) if row.message_id == accepted[0].message_id]
    assert sending.state == "sending", "killed with its letter accepted and not marked"

    finish(office, START + LEASE + timedelta(minutes=1))  # its lease has run out: only the journal knows
    rows = outbox(office)
    assert {(row.state, row.unrecorded) for row in rows} == {("sent", False)}
    assert sent_records(office) == {row.message_id: 1 for row in rows}
    assert sorted(m.message_id for m in smtp.messages) == sorted(row.message_id for row in rows), "each once"
    assert [line.split()[0] for line in path.read_text().splitlines()] == [
        str(row.id) for row in rows if row.id != sending.id], "the killed run's line was applied and dropped"


def test_a_torn_last_line_and_lines_that_name_no_waiting_row_are_skipped_and_logged(
        office: Hub, smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    acknowledgement, notice = refused_once(office, smtp)
    clock = clock_of(office)
    with office.sessions.begin() as session:
        session.execute(update(Outbox).where(Outbox.id == notice.id).values(state="suppressed"))
    claim(office, acknowledgement)
    journal(office, acknowledgement, clock.now())
    journal(office, notice, clock.now())  # a row neither waiting nor sent
    with open(journal_path(office.config), "ab") as file:
        file.write(b"not a journal line\n")
        file.write(b"987654 2026-11-23T14:00:00+00:00 250 ok\n")  # no such row
        file.write(f"{acknowledgement.id} 2026-11-23T14:0".encode())  # a write cut short by a crash
    caplog.set_level(logging.INFO)

    assert deliver_due(office).counts == {}
    (marked,) = [row for row in outbox(office) if row.id == acknowledgement.id]
    assert (marked.state, marked.unrecorded) == ("sent", False)
    assert [row.state for row in outbox(office) if row.id == notice.id] == ["suppressed"]
    assert sent_records(office) == {acknowledgement.message_id: 1}
    assert smtp.messages == []
    logged = [record.getMessage() for record in caplog.records if record.name.startswith("hub.delivery.sent")]
    assert any("incomplete last line" in line for line in logged)
    assert any("line 3 is unreadable" in line for line in logged)
    assert any(f"outbox {notice.id} is suppressed" in line for line in logged)
    assert any("outbox 987654 does not exist" in line for line in logged)
    assert any("marked 1 messages sent from the sent journal" in line for line in logged)
    assert not any("@" in line for line in logged), "no addresses in the log"
    assert journal_path(office.config).stat().st_size == 0


def test_a_sender_whose_line_another_pass_applied_first_does_not_mark_or_record_its_letter_again(
        office: Hub, smtp: SmtpServer) -> None:
    acknowledgement, _ = refused_once(office, smtp)
    claim(office, acknowledgement, owner="this")
    at = office.clock.now()
    with SentMarks(office) as marks, marks.mark(acknowledgement.id, at) as mark:
        journal(office, acknowledgement, at)  # this sender's line; then another process's pass runs
        assert deliver_due(office).counts == {}
        assert sent_records(office) == {acknowledgement.message_id: 1}
        mark.commit(REPLY)
    (row,) = [row for row in outbox(office) if row.id == acknowledgement.id]
    assert (row.state, row.unrecorded, row.attempts) == ("sent", False, 2), "marked once"
    assert record_unrecorded(office) == 0
    assert sent_records(office) == {acknowledgement.message_id: 1}


def test_the_journal_is_the_service_users_alone_and_emptied_only_when_no_one_is_sending(
        office: Hub, smtp: SmtpServer) -> None:
    path = journal_path(office.config)
    loose = os.umask(0o022)
    try:
        write_in(office, 0, 1)
        assert deliver_due(office).counts == {"sent": 2}
    finally:
        os.umask(loose)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes().splitlines()) == 2, "one line a letter, until the next pass"
    path.chmod(0o644)  # as an older version or a hand might leave it

    acknowledgement, _ = refused_once(office, smtp, person=1)
    assert path.stat().st_size == 0, "the pass emptied it first"
    claim(office, acknowledgement)
    sender = SentJournal(path, 0, office.clock.now())  # another process, between its send and its mark
    sender.open()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    try:
        journal(office, acknowledgement, office.clock.now())
        deliver_due(office)
        assert [row.state for row in outbox(office) if row.id == acknowledgement.id] == ["sent"]
        assert path.stat().st_size > 0, "kept: the other process's line may come after the pass read it"
    finally:
        sender.close()
    deliver_due(office)
    assert path.stat().st_size == 0
    assert len(smtp.messages) == 2, "the journalled letter was not sent again"


def test_a_journal_that_cannot_be_used_is_logged_and_delivery_goes_on_without_it(
        office: Hub, smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    journal_path(office.config).mkdir()  # no file can be opened there
    write_in(office, 0, 1)
    assert deliver_due(office).counts == {"sent": 2}
    assert {(row.state, row.unrecorded) for row in outbox(office)} == {("sent", False)}
    assert len(smtp.messages) == 2
    logged = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("cannot be read" in line for line in logged)
    assert sum("cannot be used, sending without it" in line for line in logged) == 2


def test_a_pass_marks_its_letters_on_one_connection_and_a_mark_that_failed_lets_it_go(
        tmp_path: Path, postgres: PostgresDatabases, smtp: SmtpServer) -> None:
    """A pass's marks share a connection (one checkout, not one a letter); when the server drops it, that
    mark fails (its letter is left to the journal's line) and the pass's next mark connects again."""
    reason = postgres.unavailable_reason()
    if reason:
        require(reason)
    url = postgres.fresh()
    office = make_office(tmp_path / "office", url, outbound_url=smtp.url())
    try:
        write_in(office, 0, 2)
        first, second, third, _ = outbox(office)[-4:]
        checkouts: list[object] = []
        event.listen(office.engine, "checkout", lambda *_: checkouts.append(None))
        at = office.clock.now()
        with SentMarks(office) as marks:
            for row in (first, second):
                with marks.mark(row.id, at) as mark:
                    mark.commit(REPLY)
            assert len(checkouts) == 1, "the second mark ran on the first one's connection"
            end_other_connections(office.engine)
            with pytest.raises(OperationalError), marks.mark(third.id, at) as mark:
                mark.commit(REPLY)
            assert [line.row_id for line in journal_lines_of(office)] == [first.id, second.id, third.id]
            with marks.mark(third.id, at) as mark:
                mark.commit(REPLY)
        states = {row.id: row.state for row in outbox(office)}
        assert [states[row.id] for row in (first, second, third)] == ["sent", "sent", "sent"]
    finally:
        office.close()


def journal_lines_of(office: Hub) -> list[Accepted]:
    with journal_lines(journal_path(office.config)) as lines:
        return lines


SLOW_MARK = """
CREATE FUNCTION slow_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state = 'sent' AND OLD.state <> 'sent' THEN PERFORM pg_sleep(0.03); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER slow_mark BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION slow_mark();
"""


def test_each_letter_is_marked_before_the_server_can_accept_the_next(office: Hub, smtp: SmtpServer) -> None:
    """At every letter's end of DATA, every letter the server has from the pass is marked sent and committed, as
    another connection sees it: on PostgreSQL each mark is slowed (30 ms) so that a send that did not wait for the
    previous mark would be caught."""
    write_in(office, 0, 6)
    if office.engine.dialect.name == "postgresql":
        with office.engine.begin() as connection:
            connection.exec_driver_sql(SLOW_MARK)
    received: list[str] = []
    unmarked: list[tuple[str, list[str]]] = []

    def check(message: CapturedMessage) -> None:
        with office.engine.connect() as connection:
            sent = set(connection.scalars(select(Outbox.message_id).where(Outbox.state == "sent")))
        if missing := [message_id for message_id in received if message_id not in sent]:
            unmarked.append((str(message.message["Message-ID"]).strip(), missing))
        received.append(str(message.message["Message-ID"]).strip())

    smtp.on_data(check)
    assert deliver_due(office).counts == {"sent": 12}
    assert len(received) == 12 and not unmarked, unmarked


@pytest.mark.parametrize(("failing", "error"), [
    ("RAISE EXCEPTION 'no mark for this row'", "no mark for this row"),
    # The connection lost with the mark: the RESET that the marks' connection is let go with fails too.
    ("PERFORM pg_terminate_backend(pg_backend_pid())", "terminating connection|server closed the connection"),
], ids=["refused", "connection-lost"])
def test_a_mark_that_fails_on_its_way_stops_the_pass_before_the_next_letter_and_its_line_marks_it(
        tmp_path: Path, postgres: PostgresDatabases, smtp: SmtpServer, failing: str, error: str) -> None:
    """A mark sent ahead that the database refuses, or whose connection is lost, is raised before the next
    letter's DATA (that letter is not sent, and is released at once); the next pass marks the letter from the
    journal's line and records it once, and sends it no second time."""
    reason = postgres.unavailable_reason()
    if reason:
        require(reason)
    office = make_office(tmp_path / "office", postgres.fresh(), outbound_url=smtp.url())
    try:
        write_in(office, 0, 3)
        rows = outbox(office)
        refused = rows[1]
        with office.engine.begin() as connection:
            connection.exec_driver_sql(REFUSE_MARK.replace("ROW_ID", str(refused.id)).replace("FAILING", failing))
        with pytest.raises(MarkFailed, match=f"the sent mark failed: .*({error})"):
            deliver_due(office)
        first = [str(m.message["Message-ID"]).strip() for m in smtp.messages]
        assert first == [rows[0].message_id, refused.message_id], "the letter after the refused mark did not go"
        lines = journal_path(office.config).read_text().splitlines()  # read as it is: journal_lines empties it
        assert [int(line.split()[0]) for line in lines] == [rows[0].id, refused.id]
        with office.engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER refuse_mark ON outbox")
        assert deliver_due(office).counts == {"sent": len(rows) - 2}
        got = Counter(str(m.message["Message-ID"]).strip() for m in smtp.messages)
        assert got == {row.message_id: 1 for row in rows}, "each letter went once"
        assert {row.state for row in outbox(office)} == {"sent"}
        assert sent_records(office) == {row.message_id: 1 for row in rows}
    finally:
        office.close()


REFUSE_MARK = """
CREATE FUNCTION refuse_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state = 'sent' AND OLD.id = ROW_ID THEN FAILING; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_mark BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_mark();
"""

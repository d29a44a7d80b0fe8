"""Delivery across crashes and outages, against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

- `hub run --once` killed (SIGKILL) ten times at random moments during delivery loses nothing: every
  letter reaches the server, every outbox row ends sent with its sent message recorded on the case once,
  and no kill costs more than one letter sent twice (the window between the server's 250 and the sent
  mark's commit; bench/kill_delivery.py measures how rarely).
- A row marked sent whose record a crash cut short is recorded by the next pass, as the send would have
  recorded it (the message, its event, the case's status, the agency's reminder), and not sent again;
  on PostgreSQL a real process is killed exactly there (its record waits on a table lock).
- An SMTP outage is logged once when it starts and once when it ends, each pass tries one letter
  against the dead server (the rest wait untouched, texts still go), and afterwards every letter goes
  once.
- A pass whose lease on a letter ran out, and another pass took and sent the letter, leaves the letter to
  that pass when its own try fails: it neither sets it waiting again (to go twice) nor fails it.
- A letter that cannot be composed again for its record (the form it carried is gone) is recorded
  without its bytes rather than stopping every pass.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from hub.cases import letter_send
from hub.cases.due_dates import AGENCY_FOLLOWUP
from hub.core.app import Hub, open_hub
from hub.core.clock import as_utc
from hub.core.models import Case, Event, Message, Outbox, Reminder
from hub.delivery.deliver import LEASE, deliver_due
from hub.delivery.outage import Outage
from hub.delivery.sent_record import SentMarks, SentRecords
from hub.run.status import status_lines
from hub.sources.sms_poll import poll_texts
from tests.helpers import START, email, feed, make_office, stored_raw
from tests.hub_process import wait_until
from tests.integration.test_delivery import clock_of, outbox
from tests.servers.smtp import SmtpServer
from tests.servers.twilio import running_twilio

pytestmark = pytest.mark.integration
LIAISON = "congressional.liaison@ssa.gov"
OFFICE_NUMBER = "+15555550100"
CONSTITUENT_NUMBER = "+19195550142"
REPLY = "250 2.0.0 Ok: queued as 4F2A1"  # the server's answer the mark keeps as the provider id


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(),
                      agencies={"ssa": {"liaison": LIAISON}})
    yield hub
    hub.close()


def sent_records(hub: Hub) -> dict[str, int]:
    """How many sent messages each Message-ID has on the cases."""
    with hub.sessions() as session:
        found = session.execute(select(Message.message_id, func.count()).where(Message.direction == "out")
                                .group_by(Message.message_id))
        return {str(message_id): int(n) for message_id, n in found}


def write_in(hub: Hub, first: int, count: int) -> None:
    for n in range(first, first + count):
        feed(hub, email(sender=f"Person {n} <person{n}@example.com>", subject=f"Problem {n}",
                        body=f"My claim number {n} is stuck.", message_id=f"<crash-{n}@example.com>"))


def hub_once(hub: Hub, at: datetime) -> subprocess.Popen[bytes]:
    """`hub run --once --at AT`, its stderr appended to var/hub.log."""
    with open(hub.config.resolve("var/hub.log"), "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "hub", "--config", str(hub.config.path), "run", "--once",
                                 "--at", at.isoformat()], stdout=subprocess.DEVNULL, stderr=log)


def finish(hub: Hub, at: datetime) -> None:
    """One `hub run --once` to its end."""
    code = hub_once(hub, at).wait(120)
    assert code == 0, hub.config.resolve("var/hub.log").read_text(errors="replace")


# --- killed during delivery -------------------------------------------------------------------------

KILLS = 10


def test_killed_ten_times_during_delivery_every_letter_arrives_and_each_is_recorded_once(
        office: Hub, smtp: SmtpServer) -> None:
    rng = random.Random(12)
    clock = clock_of(office)
    arrived = threading.Event()
    smtp.on_data(lambda message: arrived.set())
    people = kills = rounds = 0
    at = START
    while kills < KILLS:
        at = START + rounds * (LEASE + timedelta(minutes=1))  # the last round's lease has run out
        rounds += 1
        assert rounds < 3 * KILLS, "the runs keep finishing before their kill"
        if sum(row.state in ("pending", "sending") for row in outbox(office)) < 10:
            clock.at = at
            write_in(office, people, 8)
            people += 8
        arrived.clear()
        process = hub_once(office, at)
        assert arrived.wait(60), "nothing reached the SMTP server"
        time.sleep(rng.uniform(0, 0.3))
        process.send_signal(signal.SIGKILL)
        code = process.wait(60)
        kills += code == -signal.SIGKILL
        assert code in (0, -signal.SIGKILL), office.config.resolve("var/hub.log").read_text(errors="replace")
    smtp.on_data(None)
    for extra in (1, 2):  # the last killed run's lease runs out; then nothing is left
        finish(office, at + extra * (LEASE + timedelta(minutes=1)))

    rows = outbox(office)
    assert len(rows) == 2 * people
    assert {(row.state, row.unrecorded) for row in rows} == {("sent", False)}
    assert sent_records(office) == {row.message_id: 1 for row in rows}, "each letter recorded on its case once"
    copies = smtp.by_message_id()
    assert {row.message_id for row in rows} == set(copies), "every letter reached the server, and nothing else"
    extra_copies = sum(len(found) - 1 for found in copies.values())
    assert extra_copies <= kills, "a kill sends at most the one letter whose 250 it cut off from the mark"


# --- the sent mark without its record ---------------------------------------------------------------


def queue_inquiry(office: Hub, smtp: SmtpServer) -> tuple[Outbox, Case]:
    """An agency inquiry on a new case, rendered by a first attempt that the server refused for now."""
    outcome = feed(office, email(subject="My disability payments stopped"))
    assert outcome.case_ref is not None
    with office.sessions.begin() as session:
        session.execute(update(Case).where(Case.ref == outcome.case_ref).values(agency="ssa", status="open"))
    letter_send.send(office, "agency-inquiry", outcome.case_ref, None, force=True)
    smtp.refuse_recipient(LIAISON, 451, "4.3.0 Try again later")
    assert deliver_due(office).counts == {"sent": 2, "retrying": 1}
    smtp.accept_recipient(LIAISON)
    (row,) = [row for row in outbox(office) if row.letter == "agency-inquiry"]
    assert row.subject and row.body and row.state == "pending"
    with office.sessions() as session:
        return row, session.get_one(Case, row.case_id)


def test_a_letter_marked_sent_whose_record_was_cut_short_is_recorded_by_the_next_pass_and_not_sent_again(
        office: Hub, smtp: SmtpServer) -> None:
    row, case = queue_inquiry(office, smtp)
    clock = clock_of(office)
    clock.advance(timedelta(minutes=2))
    sent_at = clock.now()
    # What a crash right after the mark's commit leaves: the mark, and nothing else.
    with SentMarks(office) as marks, marks.mark(row.id, sent_at) as mark:
        mark.commit(REPLY)
    (marked,) = [found for found in outbox(office) if found.id == row.id]
    assert (marked.state, marked.unrecorded, marked.attempts, marked.lease_owner) == ("sent", True, 2, None)
    assert row.message_id not in sent_records(office)
    assert status_lines(office)[-4].endswith("; 1 sent, not yet recorded on their case (the next delivery does it)")
    clock.advance(timedelta(minutes=5))
    received = len(smtp.messages)

    assert deliver_due(office).counts == {}, "nothing is sent again"
    assert len(smtp.messages) == received
    assert sent_records(office)[row.message_id] == 1
    with office.sessions() as session:
        message = session.scalars(select(Message).where(Message.dedupe_key == f"out:{row.message_id}")).one()
        recorded = session.get_one(Outbox, row.id)
        case_now = session.get_one(Case, case.id)
        events = list(session.scalars(select(Event).where(Event.case_id == case.id, Event.at == sent_at)))
        followups = list(session.scalars(select(Reminder).where(
            Reminder.case_id == case.id, Reminder.kind == AGENCY_FOLLOWUP, Reminder.state == "pending")))
    assert (recorded.state, recorded.unrecorded, recorded.provider_id) == ("sent", False, REPLY)
    assert (message.case_id, message.direction, message.kind, message.recipients) == (
        case.id, "out", "letter:agency-inquiry", [LIAISON])
    assert as_utc(message.at) == sent_at
    raw = message_from_bytes(stored_raw(office, message) or b"", policy=policy.default)
    assert raw["Message-ID"].strip() == row.message_id and raw["To"] == LIAISON  # folded: it is long
    assert parsedate_to_datetime(raw["Date"]) == sent_at, "composed again as it went: dated when it went"
    assert case.ref in raw["Subject"] and message.subject == raw["Subject"]
    assert message.body == row.body
    assert case_now.status == "pending-agency"
    assert sorted(event.kind for event in events) == ["message-sent", "status"]
    assert len(followups) == 1 and as_utc(followups[0].created_at) == sent_at
    assert not status_lines(office)[-4].count("not yet recorded")

    clock.advance(timedelta(minutes=1))
    deliver_due(office)
    assert sent_records(office)[row.message_id] == 1, "recorded once"


# A sent message's record the database refuses for one letter (SQLite, PostgreSQL).
REFUSE_RECORD = {
    "sqlite": """CREATE TRIGGER refuse_record BEFORE INSERT ON messages
                 WHEN NEW.message_id = 'MESSAGE_ID' BEGIN SELECT RAISE(ABORT, 'no record for this letter'); END""",
    "postgresql": """CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                       IF NEW.message_id = 'MESSAGE_ID' THEN RAISE EXCEPTION 'no record for this letter'; END IF;
                       RETURN NEW;
                     END $$;
                     CREATE TRIGGER refuse_record BEFORE INSERT ON messages FOR EACH ROW
                       EXECUTE FUNCTION refuse_record()""",
}


@pytest.mark.parametrize("refused_set", [1, -1], ids=["raised-by-the-next-set", "raised-at-the-end"])
def test_a_set_of_records_the_database_refuses_stops_the_pass_and_the_next_pass_records_it_once(
        office: Hub, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch, refused_set: int) -> None:
    """Records go a few letters at a time (on PostgreSQL their writes and commit without waiting for the answer,
    which the next set's first read or the pass's end awaits). A set that fails stops the pass with the
    database's error; its letters went and are marked, and the next pass records them once and sends nothing
    again."""
    monkeypatch.setattr(SentRecords, "RECORDS", 2)
    write_in(office, 0, 4)
    rows = outbox(office)
    sets = [rows[start:start + 2] for start in range(0, len(rows), 2)]
    refused = sets[refused_set]
    with office.engine.begin() as connection:
        connection.exec_driver_sql(REFUSE_RECORD[office.engine.dialect.name].replace("MESSAGE_ID",
                                                                                     refused[0].message_id))

    with pytest.raises(DBAPIError, match="no record for this letter"):
        deliver_due(office)
    first = [str(m.message["Message-ID"]).strip() for m in smtp.messages]
    assert first == [row.message_id for row in rows[:len(first)]], "sent in order"
    assert set(first) >= {row.message_id for row in refused}
    after = {row.id: row for row in outbox(office)}
    assert {(after[row.id].state, after[row.id].unrecorded) for row in refused} == {("sent", True)}, \
        "the refused set's letters went and are marked, and wait for their record"
    recorded = sent_records(office)
    assert not {row.message_id for row in refused} & set(recorded)
    assert recorded == {row.message_id: 1 for row in rows[:rows.index(refused[0])]}, "the sets before it recorded"

    with office.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER refuse_record" +
                                   (" ON messages" if office.engine.dialect.name == "postgresql" else ""))
    clock_of(office).advance(timedelta(minutes=1))
    assert sum(deliver_due(office).counts.values()) == len(rows) - len(first)
    got = Counter(str(m.message["Message-ID"]).strip() for m in smtp.messages)
    assert got == {row.message_id: 1 for row in rows}, "each letter went once"
    assert {(row.state, row.unrecorded) for row in outbox(office)} == {("sent", False)}
    assert sent_records(office) == {row.message_id: 1 for row in rows}, "each letter recorded on its case once"


def test_a_sent_letter_that_cannot_be_composed_again_is_recorded_without_its_bytes(
        tmp_path: Path, database_url: str, smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    office = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    try:
        form = office.config.path.parent.parent / "letters" / "release.pdf"
        form.parent.mkdir(exist_ok=True)
        form.write_bytes(b"%PDF-1.4 the office's release form")
        office.config.path.write_text(office.config.path.read_text().replace(
            'privacy_release_form = ""', 'privacy_release_form = "letters/release.pdf"'))
        hub = open_hub(office.config.path, office.clock)
        outcome = feed(hub, email(subject="Help with my claim"))
        assert outcome.case_ref is not None
        letter_send.send(hub, "privacy-release-request", outcome.case_ref, None, force=False)
        smtp.refuse_recipient("pat@example.com", 451, "4.3.0 Try again later")
        deliver_due(hub)  # rendered, refused for now
        (row,) = [row for row in outbox(hub) if row.letter == "privacy-release-request"]
        with SentMarks(hub) as marks, marks.mark(row.id, hub.clock.now()) as mark:
            mark.commit(REPLY)
        form.unlink()  # the form it carried is gone before the record is written

        deliver_due(hub)
        with hub.sessions() as session:
            message = session.scalars(select(Message).where(Message.dedupe_key == f"out:{row.message_id}")).one()
        assert stored_raw(hub, message) is None and message.body == row.body and message.case_id == row.case_id
        assert [found.unrecorded for found in outbox(hub) if found.id == row.id] == [False]
        assert any("recorded without its bytes" in record.getMessage() for record in caplog.records)
        hub.close()
    finally:
        office.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_hub_killed_between_the_sent_mark_and_the_record_sends_nothing_twice(
        office: Hub, smtp: SmtpServer) -> None:
    write_in(office, 0, 1)
    # The record's first write to the messages table waits on this lock; the mark (the outbox) does not.
    with office.engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE messages IN EXCLUSIVE MODE"))
        process = hub_once(office, START)
        try:
            # Records are written at the end of a pass, so the pass sends and marks every due letter and then waits
            # on the lock; killed before that, a letter it had claimed would wait out its lease (another test's case).
            wait_until(lambda: all(row.state == "sent" and row.unrecorded for row in outbox(office)
                                   if as_utc(row.not_before) <= START), 60, "every due letter's sent mark")
            process.send_signal(signal.SIGKILL)
            assert process.wait(60) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
        # The record's writes and commit went to the server ahead of their answer: once the lock is gone the
        # server would finish them for the dead hub (recorded once, as it should be). Its connection is ended
        # first, as when the server notices the hub is gone, so that the record is cut short.
        blocker.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        blocker.rollback()
    marked = [row for row in outbox(office) if row.unrecorded]
    assert marked and {row.state for row in marked} == {"sent"} and sent_records(office) == {}
    assert sorted(m.message_id for m in smtp.messages) == sorted(row.message_id for row in marked)

    finish(office, START + timedelta(minutes=1))
    rows = outbox(office)
    assert {(row.state, row.unrecorded) for row in rows} == {("sent", False)}
    assert sent_records(office) == {row.message_id: 1 for row in rows}
    assert sorted(m.message_id for m in smtp.messages) == sorted(row.message_id for row in rows), "each once"


# --- an outage of the mail server --------------------------------------------------------------------


def test_an_smtp_outage_is_logged_when_it_starts_and_ends_and_each_pass_tries_one_letter(
        office: Hub, smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    clock = clock_of(office)
    write_in(office, 0, 20)
    smtp.stop()
    outage = Outage()  # the daemon keeps one across its passes
    caplog.set_level(logging.INFO)
    passes = 4
    for _ in range(passes):
        assert deliver_due(office, outage=outage).counts == {"retrying": 1}, "one try, then the pass stops"
        clock.advance(timedelta(seconds=30))
    rows = outbox(office)
    assert len(rows) == 40 and {row.state for row in rows} == {"pending"}
    assert sum(row.attempts for row in rows) == passes, "an attempt counts only for the row tried"
    assert sum("cannot connect" in row.error for row in rows) == passes, "each tried row keeps its error"
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"outbound mail server unreachable: smtp://127.0.0.1:{smtp.port}: cannot connect")
    assert warnings[0].endswith("; 40 letters waiting")

    smtp.start()
    caplog.clear()
    clock.advance(timedelta(hours=1))  # past every row's pause
    assert deliver_due(office, outage=outage).counts == {"sent": 40}
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings == ["outbound mail server reachable again after 62 min; 4 tries failed meanwhile, "
                        "39 letters still waiting"]
    assert not outage.is_on
    copies = smtp.by_message_id()
    assert sorted(copies) == sorted(row.message_id for row in rows)
    assert {len(found) for found in copies.values()} == {1}


def test_the_letters_still_waiting_when_the_server_answers_again_leave_out_the_letter_that_just_went(
        office: Hub, smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    # On PostgreSQL a letter's sent mark goes to the database without waiting for its answer; the count logged
    # beside it must wait for it, or it counts the letter as waiting whenever the database is slower than
    # the count (here: another transaction holds the letter's row for a moment).
    write_in(office, 0, 1)
    smtp.stop()
    outage = Outage()
    assert deliver_due(office, outage=outage).counts == {"retrying": 1}
    smtp.start()
    engine = office.engine
    held = threading.Event()
    holders: list[threading.Thread] = []

    def hold_the_row(message_id: str) -> None:
        with engine.begin() as connection:
            connection.execute(update(Outbox).where(Outbox.message_id == message_id)
                               .values(attempts=Outbox.attempts))
            held.set()
            time.sleep(1)

    def on_first_letter(message) -> None:  # type: ignore[no-untyped-def]
        if not holders:
            holders.append(threading.Thread(target=hold_the_row, args=(message.message_id,)))
            holders[0].start()
            assert held.wait(10)

    smtp.on_data(on_first_letter)
    caplog.clear()
    caplog.set_level(logging.INFO)
    clock_of(office).advance(timedelta(hours=1))
    try:
        assert deliver_due(office, outage=outage).counts == {"sent": 2}
    finally:
        smtp.on_data(None)
        for holder in holders:
            holder.join()
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings == ["outbound mail server reachable again after 60 min; 1 tries failed meanwhile, "
                        "1 letters still waiting"]


@pytest.mark.parametrize("refusal", [(451, "4.3.0 Try again later"), (554, "5.7.1 Message refused")],
                         ids=["temporary", "permanent"])
def test_a_letter_another_pass_took_when_this_ones_lease_ran_out_is_left_to_that_pass(
        office: Hub, smtp: SmtpServer, refusal: tuple[int, str]) -> None:
    # A pass held up past its lease (its machine asleep, a server that hung) loses its letter to another process's
    # pass, which sends it. When the first pass's own try then fails, that failure is no longer the letter's: set
    # waiting again it would go twice, failed it would tell the caseworker of a letter that went.
    write_in(office, 0, 1)  # an acknowledgement and a caseworker's notice
    taken: list[str] = []

    def another_pass_takes_it_and_sends_it(message) -> None:  # type: ignore[no-untyped-def]
        if taken:
            return
        taken.append(message.message_id)
        with office.engine.begin() as connection:
            connection.execute(update(Outbox).where(Outbox.message_id == message.message_id).values(
                lease_owner="another pass", lease_until=clock_of(office).now() + 2 * LEASE))
            connection.execute(update(Outbox).where(Outbox.message_id == message.message_id).values(
                state="sent", sent_at=clock_of(office).now(), provider_id="250 sent by another pass",
                lease_owner=None, lease_until=None))

    smtp.on_data(another_pass_takes_it_and_sends_it)
    smtp.fail_next(1, *refusal)
    try:
        assert deliver_due(office).counts == {"sent": 1, "taken over": 1}
    finally:
        smtp.on_data(None)
    with office.sessions() as session:
        row = session.scalars(select(Outbox).where(Outbox.message_id == taken[0])).one()
        assert (row.state, row.provider_id) == ("sent", "250 sent by another pass")
        assert session.scalar(select(func.count()).select_from(Event).where(
            Event.kind.like("delivery-%"))) == 0
    clock_of(office).advance(timedelta(hours=2))
    assert deliver_due(office).counts == {}
    assert taken[0] not in smtp.by_message_id()  # the hub never sent it again: the other pass did
    assert len(smtp.messages) == 1


def test_texts_go_on_while_the_mail_server_is_unreachable(
        tmp_path: Path, database_url: str, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_twilio(number=OFFICE_NUMBER) as twilio:
        monkeypatch.setenv("HUB_TEST_TWILIO_TOKEN", twilio.auth_token)
        office = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(), sms={
            "account_sid": twilio.account_sid, "number": OFFICE_NUMBER, "auth_token_env": "HUB_TEST_TWILIO_TOKEN",
            "api_base": twilio.api_base})
        try:
            write_in(office, 0, 2)  # four letters by mail, due first
            clock_of(office).advance(timedelta(minutes=1))
            twilio.text_office(CONSTITUENT_NUMBER, "My passport has not come", date_sent=office.clock.now())
            poll_texts(office)
            smtp.stop()
            clock_of(office).advance(timedelta(minutes=1))
            assert deliver_due(office).counts == {"retrying": 1, "sent": 1}
            assert len(twilio.sent(CONSTITUENT_NUMBER)) == 1, "the text's acknowledgement went"
            mail = [row for row in outbox(office) if row.channel == "email"]
            assert sorted(row.attempts for row in mail) == [0, 0, 0, 0, 1], "one try at the dead server"
        finally:
            office.close()


def test_a_letter_whose_preparation_fails_keeps_its_claim_and_the_next_pass_goes_past_it(
        office: Hub, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A claim commits with the letter's rendering; a bug in the rendering must not roll the claim back, or every
    # pass would stop at the same letter first and nothing behind it would go.
    from hub.delivery import deliver

    write_in(office, 0, 1)  # two letters: the acknowledgement, then the caseworker's notice
    render = deliver._render
    broken: list[int] = []

    def fails_once(session, hub, letters, row, case, now, facts):  # type: ignore[no-untyped-def]
        if not broken:
            broken.append(row.id)
            raise RuntimeError("a bug in rendering")
        return render(session, hub, letters, row, case, now, facts)

    monkeypatch.setattr(deliver, "_render", fails_once)
    with pytest.raises(RuntimeError):
        deliver_due(office)
    (held,) = [row for row in outbox(office) if row.id == broken[0]]
    assert held.state == "sending" and held.lease_until is not None and held.lease_until > office.clock.now()
    assert deliver_due(office).counts == {"sent": 1}, "the next pass sends the letter behind it"
    assert [row.state for row in outbox(office) if row.id == broken[0]] == ["sending"]

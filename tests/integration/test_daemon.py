"""`hub run`, the daemon, as a subprocess against a private Dovecot and a real SMTP server (aiosmtpd), on
SQLite and PostgreSQL.

What these tests prove:

- Mail delivered into the IMAP INBOX is filed and acknowledged within seconds, while the inbox's poll
  interval is ten minutes: only IDLE can explain it. SIGTERM ends the daemon with exit 0 promptly, and
  `hub status` then shows the inbox and every job with its last success.
- The daemon survives a Dovecot restart (its IDLE connection comes back by itself) and an SMTP outage
  (the acknowledgement goes once the server is back; the outage is logged when it starts and when it
  ends, not at every try); in the end every message is on a case exactly
  once and every acknowledgement reached the SMTP server exactly once, by Message-ID.
- SIGTERM in the middle of a large drain, and again in the middle of delivery, exits 0 and loses and
  doubles nothing: a later run files and sends exactly the rest.
- The IDLE watcher ends and re-issues IDLE on its own (RFC 2177) and still hears new mail.
- A Maildir inbox is polled, texts are polled from the SMS line and answered, and a configuration error
  stops the daemon with one line and a non-zero exit.

The outage test runs on SQLite only: most of its time is delivery's first retry pause (a minute), in
which the database plays no part.
"""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from hub.core.app import Hub, open_hub
from hub.core.migrations import HEAD
from hub.core.models import Message, Outbox
from hub.sources.imap import ImapAddress
from hub.sources.imap_idle import IdleWatcher
from tests.helpers import STAFF, email, make_office, tally
from tests.hub_process import HubProcess, running_hub, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import CapturedMessage, SmtpServer
from tests.servers.twilio import FakeTwilio, running_twilio

pytestmark = pytest.mark.integration

ARRIVAL = 20.0  # seconds a message may take from the INBOX to its acknowledgement: generous, IDLE takes ~1
STOPPED = 15.0  # seconds SIGTERM may take to end the daemon
QUIET = 600  # the inbox's poll interval in these tests: far longer than any wait below


@dataclass
class Office:
    hub: Hub  # the test's own view of the office's database (the daemon runs in its own process)
    config: Path
    env: dict[str, str]
    log: Path

    def start(self) -> HubProcess:
        process = HubProcess(self.config, self.log, self.env)
        process.wait_for_start()
        return process


def office_for(tmp_path: Path, database_url: str, dovecot: DovecotServer | None, smtp: SmtpServer | None,
               settings: dict[str, str] | None = None, **options: object) -> Office:
    hub = make_office(tmp_path / "office", database_url, inbox_url=dovecot.imap_url() if dovecot else None,
                      outbound_url=smtp.url() if smtp else None, **options)  # type: ignore[arg-type]
    hub.close()
    config = hub.config.path
    text = config.read_text()
    for old, new in (settings or {}).items():
        assert old in text, old
        text = text.replace(old, new, 1)
    config.write_text(text)
    env = {"HUB_INBOX_PASSWORD": dovecot.password} if dovecot else {}
    return Office(open_hub(config), config, env, tmp_path / "hub.log")


@pytest.fixture
def office(tmp_path: Path, database_url: str, dovecot: DovecotServer, smtp: SmtpServer) -> Iterator[Office]:
    found = office_for(tmp_path, database_url, dovecot, smtp, {"# poll_seconds = 60\n": f"poll_seconds = {QUIET}\n"})
    yield found
    found.hub.close()


def constituent(n: int) -> bytes:
    return email(sender=f"Person {n} <person{n}@example.com>", subject=f"Problem {n}",
                 body=f"My claim number {n} is stuck.", message_id=f"<daemon-{n}@example.com>")


def acknowledgements(hub: Hub) -> list[Outbox]:
    with hub.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.letter == "acknowledgement").order_by(Outbox.id)))


def letters_waiting(hub: Hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.state.in_(("pending", "sending")))) or 0


def acknowledged(smtp: SmtpServer, n: int) -> bool:
    return any(f"person{n}@example.com" in message.rcpt_tos for message in smtp.messages)


def stored(hub: Hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) or 0


def assert_each_once(office: Office, smtp: SmtpServer, people: int) -> None:
    """Every message on its own case exactly once, and every acknowledgement accepted exactly once."""
    counts = tally(office.hub)
    assert (counts.messages, counts.on_cases, counts.cases, counts.quarantine) == (people, people, people, 0)
    rows = acknowledgements(office.hub)
    assert len(rows) == people and {row.state for row in rows} == {"sent"}
    copies = smtp.by_message_id()
    assert Counter(len(copies.get(row.message_id, [])) for row in rows) == {1: people}
    assert sorted(rcpt for row in rows for rcpt in copies[row.message_id][0].rcpt_tos) == sorted(
        f"person{n}@example.com" for n in range(people))


def assert_clean_log(office: Office, people: int) -> None:
    log = office.log.read_text(errors="replace")
    assert "Traceback" not in log
    leaked = [n for n in range(people) if f"person{n}@example.com" in log]
    assert not leaked, "log lines carry constituents' addresses"


# --- IDLE ------------------------------------------------------------------------------------------


def test_new_mail_is_acknowledged_within_seconds_by_idle_and_sigterm_stops_promptly(
        office: Office, dovecot: DovecotServer, smtp: SmtpServer) -> None:
    daemon = office.start()
    try:
        assert daemon.lines[0].startswith(f"hub running: inbox {dovecot.imap_url().replace('imap://', 'imap:')}")
        assert f"(IDLE, and checked every {QUIET} s)" in daemon.lines[0] and daemon.lines[0].endswith("SIGTERM stops")
        for n in range(3):
            dovecot.deliver(constituent(n))
            wait_until(lambda n=n: acknowledged(smtp, n), ARRIVAL, f"the acknowledgement of message {n}")
        code, seconds = daemon.stop(timeout=STOPPED)
    finally:
        daemon.close()
    assert code == 0, daemon.stderr()
    assert seconds < STOPPED
    assert_each_once(office, smtp, 3)
    assert_clean_log(office, 3)
    status = office_status(office)
    assert any(line.startswith(f"source {dovecot.imap_url().replace('imap://', 'imap:')}: last success 20")
               for line in status), status
    for job in ("inbox", "outbox", "reminders", "report"):
        assert any(line.startswith(f"job {job}: last success 20") and "last error" not in line
                   for line in status), (job, status)
    assert status[-4].startswith("outbox: ") and status[-3:] == [
        "reminders due: 0", "quarantine: 0 held", "triage: 0 waiting for a caseworker"]


def office_status(office: Office) -> list[str]:
    from hub.run.status import status_lines  # the same lines `hub status` prints
    return status_lines(office.hub)


def test_the_watcher_renews_idle_and_still_hears_new_mail(dovecot: DovecotServer) -> None:
    woken = threading.Event()
    watcher = IdleWatcher(ImapAddress.parse(dovecot.imap_url()), dovecot.password, woken.set,
                          on_fatal=lambda error: pytest.fail(str(error)), renew_seconds=0.3)
    watcher.start()
    try:
        assert watcher.ready.wait(30) and watcher.state == "idle"
        time.sleep(1.2)  # IDLE ended and issued again several times (RFC 2177 asks for it within 29 minutes)
        assert not woken.is_set()
        dovecot.deliver(constituent(0))
        assert woken.wait(ARRIVAL), "no wake-up for the new message"
    finally:
        watcher.stop()
    assert watcher.state == "stopped"


# --- outages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_daemon_survives_a_dovecot_restart_and_an_smtp_outage(
        office: Office, dovecot: DovecotServer, smtp: SmtpServer) -> None:
    with running_hub(office.config, office.log, office.env) as daemon:
        dovecot.deliver(constituent(0))
        wait_until(lambda: acknowledged(smtp, 0), ARRIVAL, "the first acknowledgement")

        dovecot.stop()
        wait_until(lambda: "IDLE connection" in daemon.stderr(), 30, "the lost IDLE connection noticed")
        time.sleep(1.5)  # a reconnection or two is refused meanwhile
        dovecot.start()  # the same port, the same mail
        dovecot.deliver(constituent(1))
        wait_until(lambda: acknowledged(smtp, 1), 60, "the acknowledgement after the Dovecot restart")
        # The caseworker's notice follows the acknowledgement: the server goes down between letters, not in a
        # letter's DATA (that is a temporary failure of its own, said at WARNING).
        wait_until(lambda: not letters_waiting(office.hub), 60, "the caseworker's notice sent")

        smtp.stop()
        dovecot.deliver(constituent(2))
        wait_until(lambda: any(row.attempts for row in acknowledgements(office.hub)[2:]), 30,
                   "a delivery attempt during the SMTP outage")
        assert not acknowledged(smtp, 2)
        smtp.start()
        # The row waits out delivery's first retry pause (a minute), then the next outbox run sends it.
        wait_until(lambda: acknowledged(smtp, 2), 150, "the acknowledgement after the SMTP outage")
        code, _ = daemon.stop(timeout=STOPPED)
    assert code == 0, daemon.stderr()
    assert_each_once(office, smtp, 3)
    assert_clean_log(office, 3)
    log = daemon.stderr()
    assert "WARNING hub.sources.imap_idle" in log and "watching for new mail again" in log
    # The outage in two lines, whatever the tries meanwhile; the rows' own failures only at DEBUG.
    assert log.count("WARNING hub.delivery.outage: outbound mail server unreachable: ") == 1, log
    assert log.count("WARNING hub.delivery.outage: outbound mail server reachable again after ") == 1, log
    assert "temporary failure" not in log


# --- SIGTERM in the middle of work -------------------------------------------------------------------


def test_sigterm_in_the_middle_of_a_large_drain_and_of_delivery_loses_and_doubles_nothing(
        tmp_path: Path, database_url: str, dovecot: DovecotServer, smtp: SmtpServer) -> None:
    people = 200
    office = office_for(tmp_path, database_url, dovecot, smtp, {
        "# poll_seconds = 60\n": f"poll_seconds = {QUIET}\n", "batch_size = 250": "batch_size = 25"})
    try:
        dovecot.deliver_many(constituent(n) for n in range(people))
        daemon = HubProcess(office.config, office.log, office.env)
        try:
            wait_until(lambda: stored(office.hub) >= 30, 60, "the drain under way", step=0.005)
            assert daemon.stop(timeout=STOPPED)[0] == 0, daemon.stderr()
        finally:
            daemon.close()
        assert stored(office.hub) < people, "the drain finished before the signal: the test proves nothing"

        # A second daemon files the rest and sends, slowed down by the server, until it is stopped too.
        smtp.on_data(lambda message: time.sleep(0.02))
        with running_hub(office.config, office.log, office.env) as daemon:
            wait_until(lambda: len(smtp.messages) >= 40, 120, "delivery under way")
            assert daemon.stop(timeout=STOPPED)[0] == 0, daemon.stderr()
        smtp.on_data(None)
        assert len(smtp.messages) < 2 * people, "delivery finished before the signal: the test proves nothing"
        # The inbox and the outbox run side by side: on a busy machine the stop can still find a few
        # messages in the inbox, which the next cycle files.
        left = people - stored(office.hub)
        assert 0 <= left < people - 30

        # One cycle files what was left and sends exactly the rest.
        once = subprocess.run([sys.executable, "-m", "hub", "--config", str(office.config), "run", "--once"],
                              env={**os.environ, **office.env}, capture_output=True, text=True, timeout=300)
        assert once.returncode == 0, once.stderr
        filed = f"{left} messages: {left} new-case" if left else "0 messages: nothing new"
        assert once.stdout.splitlines()[0] == filed
        assert_each_once(office, smtp, people)
        assert_clean_log(office, people)
    finally:
        office.hub.close()


# --- other sources, and a configuration error --------------------------------------------------------


def test_a_maildir_inbox_is_polled(tmp_path: Path, database_url: str) -> None:
    office = office_for(tmp_path, database_url, None, None, {"# poll_seconds = 60\n": "poll_seconds = 1\n"})
    try:
        with running_hub(office.config, office.log) as daemon:
            assert "(checked every 1 s)" in daemon.lines[0]
            inbox = office.hub.config.resolve("var/inbox")
            # The daemon makes its inbox at its first poll; a Maildir made here too would race it.
            wait_until(lambda: is_maildir(inbox), ARRIVAL, "the inbox made by the daemon")
            mailbox.Maildir(inbox, create=False).add(constituent(0))
            sent = office.hub.config.resolve("var/sent")
            wait_until(lambda: is_maildir(sent) and any(
                "person0@example.com" in str(m["To"]) for m in mailbox.Maildir(sent, create=False)), ARRIVAL,
                       "the acknowledgement in the sent Maildir")
            assert daemon.stop(timeout=STOPPED)[0] == 0
        assert any(line.startswith("source maildir:") and "last success 20" in line for line in office_status(office))
    finally:
        office.hub.close()


def test_a_database_upgraded_under_the_daemon_stops_it_with_one_line(tmp_path: Path, database_url: str) -> None:
    """A newer hub's `hub db upgrade` (or a restore of an older backup) while the daemon runs: the daemon's code
    no longer matches the tables, so it stops at its next job, with the reason, for its service manager to start
    the hub that matches them."""
    office = office_for(tmp_path, database_url, None, None, {"# poll_seconds = 60\n": "poll_seconds = 1\n"})
    try:
        with running_hub(office.config, office.log, verbose=False) as daemon:
            with office.hub.engine.begin() as connection:
                connection.execute(text("UPDATE alembic_version SET version_num = 'f00000000001'"))
            assert daemon.process.wait(ARRIVAL) == 78  # the schema's exit status, as at a start on such a database
        assert daemon.stderr().strip().splitlines()[-1] == (
            "hub run: the database's schema changed while the hub ran: the database is at schema f00000000001, newer "
            "than this hub (which knows up to " + HEAD + "): a newer casework-hub has upgraded it; install that "
            "version again")
        assert "Traceback" not in daemon.stderr()
    finally:
        office.hub.close()


def is_maildir(folder: Path) -> bool:
    return all((folder / sub).is_dir() for sub in ("cur", "new", "tmp"))


OFFICE_NUMBER = "+15555550100"
PAT = "+19195550142"


def test_texts_are_polled_and_answered(tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    with running_twilio(number=OFFICE_NUMBER) as twilio:
        office = office_for(tmp_path, database_url, None, smtp, sms={
            "account_sid": twilio.account_sid, "number": OFFICE_NUMBER, "auth_token_env": "HUB_TEST_TWILIO_TOKEN",
            "api_base": twilio.api_base, "poll_seconds": 1})
        office.env["HUB_TEST_TWILIO_TOKEN"] = twilio.auth_token
        try:
            with running_hub(office.config, office.log, office.env) as daemon:
                assert "sms +…00 every 1 s" in daemon.lines[0]
                twilio.text_office(PAT, "Is anyone there? My VA claim is stuck.", date_sent=datetime.now(UTC))
                wait_until(lambda: bool(twilio_sent(twilio)), ARRIVAL, "the acknowledgement by text")
                wait_until(lambda: any(STAFF in m.rcpt_tos and "VA claim" in body_of(m) for m in smtp.messages),
                           ARRIVAL, "the caseworker's notice")
                assert daemon.stop(timeout=STOPPED)[0] == 0
            assert len(twilio_sent(twilio)) == 1
            assert any(line.startswith("job sms: last success 20") for line in office_status(office))
        finally:
            office.hub.close()


def twilio_sent(twilio: FakeTwilio) -> list[dict[str, object]]:
    return twilio.sent(PAT)


def body_of(captured: CapturedMessage) -> str:
    body = captured.message.get_body()
    return str(body.get_content()) if body is not None else ""


def test_a_configuration_error_stops_the_daemon_with_one_line(tmp_path: Path, database_url: str,
                                                              dovecot: DovecotServer) -> None:
    office = office_for(tmp_path, database_url, dovecot, None,
                        {'password_env = "HUB_INBOX_PASSWORD"': 'password_env = "HUB_TEST_UNSET_PASSWORD"'})
    try:
        daemon = HubProcess(office.config, office.log, verbose=False)
        assert daemon.process.wait(60) == 1
        daemon.close()
        assert daemon.lines == []
        assert daemon.stderr().strip().splitlines() == [
            "hub: [inbox] password_env: the environment variable holding the IMAP password is not set"]
    finally:
        office.hub.close()

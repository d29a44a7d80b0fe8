"""Delivery against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

A hub killed in the middle of delivery sends nothing twice and loses nothing, and a row it had leased
waits for its lease to run out; two deliverers at once never send the same row; automatic mail keeps
to its caps and never goes to robots or to an address that bounced, while a caseworker's letter and
the staff's notifications always go; mail the server refuses for now is retried with growing pauses,
then given up, and the caseworker is told.
"""

from __future__ import annotations

import mailbox
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hub.cases import letter_send
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock, as_utc
from hub.core.models import Case, Event, Outbox, Party
from hub.delivery.claims import Claims
from hub.delivery.deliver import LEASE, DeliveryReport, deliver_due
from hub.letters.outbox import AUTO_REPLIED, enqueue
from tests.helpers import STAFF, START, email, feed, make_office
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration
PAT = "pat@example.com"


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    yield hub
    hub.close()


def clock_of(hub: Hub) -> FixedClock:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    return clock


def outbox(hub: Hub) -> list[Outbox]:
    with hub.sessions() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def states(hub: Hub) -> Counter[str]:
    return Counter(row.state for row in outbox(hub))


def events(hub: Hub, kind: str) -> list[Event]:
    with hub.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def case_ref(hub: Hub, case_id: int | None) -> str:
    with hub.sessions() as session:
        return session.get_one(Case, case_id).ref


def accepted_once(smtp: SmtpServer, rows: list[Outbox]) -> None:
    """Every row's Message-ID was accepted exactly once, and the server accepted nothing else."""
    copies = smtp.by_message_id()
    assert sorted(copies) == sorted(row.message_id for row in rows)
    assert {len(found) for found in copies.values()} == {1}
    assert len(smtp.messages) == len(rows)


# --- a crash in the middle of delivery ------------------------------------------------------------

KILL_AT = 15  # the hub is killed while the server has this message's DATA and has not answered yet


def run_hub(config: Path, at: datetime) -> subprocess.CompletedProcess[str]:
    return subprocess.run(hub_command(config, at), capture_output=True, text=True, timeout=120)


def hub_command(config: Path, at: datetime) -> list[str]:
    return [sys.executable, "-m", "hub", "--config", str(config), "run", "--once", "--at", at.isoformat()]


def test_killed_in_the_middle_of_delivery_nothing_is_sent_twice_and_nothing_is_lost(
        office: Hub, smtp: SmtpServer) -> None:
    people = 30
    inbox = mailbox.Maildir(office.config.resolve("var/inbox"), create=True)
    for n in range(people):
        inbox.add(email(sender=f"Person {n} <p{n}@example.com>", subject=f"Problem {n}",
                        body=f"My claim number {n} is stuck."))
    seen: list[str] = []
    running: dict[str, int] = {}

    def kill_the_hub_before_the_reply(message: CapturedMessage) -> None:
        seen.append(message.message_id)
        if len(seen) == KILL_AT:
            os.kill(running["pid"], signal.SIGKILL)
            raise ConnectionAbortedError("the hub died before the server's final reply")

    smtp.on_data(kill_the_hub_before_the_reply)
    process = subprocess.Popen(hub_command(office.config.path, START), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    running["pid"] = process.pid
    assert process.wait(timeout=120) == -signal.SIGKILL, "the hub finished before it could be killed"
    smtp.on_data(None)

    # Killed in the middle: rows went before, the one on the wire is leased with the rest of its batch
    # (hub.delivery.claims), the rest wait.
    rows = outbox(office)
    assert len(rows) == 2 * people
    assert Counter(row.letter for row in rows) == {"acknowledgement": people, "caseworker-notification": people}
    batch_left = Claims.BATCH - (KILL_AT - 1) % Claims.BATCH
    waiting = 2 * people - KILL_AT + 1 - batch_left
    assert states(office) == {"sent": KILL_AT - 1, "sending": batch_left, "pending": waiting}
    leased = next(row for row in rows if row.message_id == seen[-1])
    assert leased.state == "sending"
    assert leased.message_id == seen[-1]
    assert [m.message_id for m in smtp.rejected] == [leased.message_id], "the server did not take it"
    assert leased.message_id not in smtp.by_message_id()
    assert leased.lease_until is not None and as_utc(leased.lease_until) == START + LEASE

    # Another run while the lease holds sends everything else, but leaves the leased row alone.
    second = run_hub(office.config.path, START + timedelta(minutes=1))
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[-1] == f"outbox: {waiting} sent"
    assert states(office) == {"sent": 2 * people - batch_left, "sending": batch_left}
    assert leased.message_id not in smtp.by_message_id(), "a leased row is not taken while its lease holds"

    # Once the lease ran out, the rows go, with the same Message-IDs; after that nothing is due.
    third = run_hub(office.config.path, START + LEASE + timedelta(minutes=1))
    assert third.returncode == 0, third.stderr
    assert third.stdout.splitlines()[-1] == f"outbox: {batch_left} sent"
    last = run_hub(office.config.path, START + LEASE + timedelta(minutes=2))
    assert last.returncode == 0, last.stderr
    assert last.stdout.splitlines()[-1] == "outbox: nothing due"

    rows = outbox(office)
    assert {row.state for row in rows} == {"sent"}
    accepted_once(smtp, rows)
    assert leased.message_id in [m.message_id for m in smtp.messages][-batch_left:]
    with office.sessions() as session:
        assert session.get_one(Outbox, leased.id).attempts == 1, "the killed attempt never reached its outcome"


# --- two deliverers at once -----------------------------------------------------------------------


def test_two_deliverers_at_once_never_send_the_same_row(office: Hub, smtp: SmtpServer) -> None:
    people = Claims.BATCH  # two letters each: more than one pass claims at once, so that both have some to send
    for n in range(people):
        feed(office, email(sender=f"p{n}@example.com", subject=f"Problem {n}"))
    assert states(office) == {"pending": 2 * people}
    peers: list[tuple[str, int]] = []

    def slowly(message: CapturedMessage) -> None:
        peers.append(message.peer)
        threading.Event().wait(0.005)  # each DATA takes a moment, so the two passes overlap

    smtp.on_data(slowly)
    hubs = [open_hub(office.config.path, FixedClock(START)) for _ in range(2)]
    start = threading.Barrier(len(hubs))
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def deliver(hub: Hub) -> None:
        try:
            start.wait(timeout=30)
            reports.append(deliver_due(hub))
        except BaseException as error:  # reported below: a thread's exception would be lost
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(hub,)) for hub in hubs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for hub in hubs:
        hub.close()
    assert not errors, errors
    assert len(reports) == 2
    assert all(set(report.counts) == {"sent"} for report in reports), [r.counts for r in reports]
    sent = [report.counts["sent"] for report in reports]
    assert sum(sent) == 2 * people and min(sent) > 0, f"both passes sent: {sent}"
    # The two connections took turns at the server: the passes really ran at the same time.
    assert len(set(peers)) == 2
    assert sum(1 for a, b in zip(peers, peers[1:], strict=False) if a != b) >= 2, peers
    rows = outbox(office)
    assert {row.state for row in rows} == {"sent"}
    accepted_once(smtp, rows)


# --- caps and robots for automatic mail -----------------------------------------------------------


def test_automatic_mail_keeps_to_its_caps_but_staff_notices_and_caseworkers_letters_always_go(
        office: Hub, smtp: SmtpServer) -> None:
    hub, clock, limits = office, clock_of(office), office.config.limits
    over = limits.auto_mail_per_address + 2
    for n in range(over):  # each opens a new case: as many acknowledgements to one address
        feed(hub, email(sender=f"Pat Example <{PAT}>", subject=f"Question {n}"))
    clock.advance(timedelta(minutes=1))
    assert deliver_due(hub).counts == {"sent": limits.auto_mail_per_address + limits.notices_per_sender,
                                       "suppressed": 2}
    assert len(smtp.sent_to(PAT)) == limits.auto_mail_per_address
    # Notices to the staff are never suppressed by these caps; past notices_per_sender about one sender
    # they wait in a digest (tests/integration/test_floods.py).
    assert len(smtp.sent_to(STAFF)) == limits.notices_per_sender
    assert states(hub)["folded"] == over - limits.notices_per_sender
    rows = outbox(hub)
    capped = [row for row in rows if row.state == "suppressed"]
    assert [row.letter for row in capped] == ["acknowledgement"] * 2
    assert all(row.error.startswith(f"cap: {limits.auto_mail_per_address} automatic messages to this address")
               for row in capped)
    assert not {row.message_id for row in capped} & set(smtp.by_message_id())
    suppressed = events(hub, "delivery-suppressed")
    assert [event.case_id for event in suppressed] == [row.case_id for row in capped]
    assert all(f"acknowledgement to {PAT}: cap" in event.detail for event in suppressed)

    # A letter a caseworker queues is not automatic: it goes although the cap is reached.
    letter_send.send(hub, "constituent-update", case_ref(hub, capped[0].case_id), None, force=False)
    assert deliver_due(hub).counts == {"sent": 1}
    assert len(smtp.sent_to(PAT)) == limits.auto_mail_per_address + 1
    assert smtp.sent_to(PAT)[-1].message["Auto-Submitted"] is None

    # Once the window has passed, a new acknowledgement goes; the suppressed rows stay suppressed.
    clock.advance(timedelta(minutes=limits.auto_mail_window_minutes, seconds=1))
    feed(hub, email(sender=f"Pat Example <{PAT}>", subject="Another question"))
    assert deliver_due(hub).counts == {"sent": 1}, "the acknowledgement; its notice joins the digest"
    assert len(smtp.sent_to(PAT)) == limits.auto_mail_per_address + 2
    assert states(hub)["suppressed"] == 2

    # On one case: at most auto_mail_per_case automatic messages in the window, whoever they go to.
    newest = outbox(hub)[-1].case_id
    with hub.sessions.begin() as session:
        for n in range(limits.auto_mail_per_case):
            enqueue(session.connection(), case_id=newest, case_ref=case_ref(hub, newest), letter="acknowledgement",
                    recipient=f"helper{n}@example.org", refs=hub.refs, domain=hub.config.office.domain,
                    now=clock.now(), automatic=AUTO_REPLIED)
    # The case's own acknowledgement was the first of its automatic messages in the window.
    assert deliver_due(hub).counts == {"sent": limits.auto_mail_per_case - 1, "suppressed": 1}
    (on_case,) = [row for row in outbox(hub) if row.state == "suppressed" and row.case_id == newest]
    assert on_case.error == (f"cap: {limits.auto_mail_per_case} automatic messages on this case in "
                             f"{limits.auto_mail_window_minutes} minutes")
    accepted_once(smtp, [row for row in outbox(hub) if row.state == "sent"])


@pytest.mark.parametrize("robot", ["noreply@alerts.example.com", "No-Reply@example.net",
                                   "do-not-reply@example.org", "notifications@example.com"])
def test_no_automatic_mail_to_a_robot(office: Hub, smtp: SmtpServer, robot: str) -> None:
    feed(office, email(sender=robot, subject="Your account"))
    with office.sessions.begin() as session:  # intake never acknowledges a mailer; a row to one is still stopped
        case = session.scalars(select(Case)).one()
        enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter="acknowledgement",
                recipient="MAILER-DAEMON@mx.example.net", refs=office.refs, domain=office.config.office.domain,
                now=office.clock.now(), automatic=AUTO_REPLIED)
    assert deliver_due(office).counts == {"sent": 1, "suppressed": 2}
    assert [m.rcpt_tos for m in smtp.messages] == [(STAFF,)]
    suppressed = [row for row in outbox(office) if row.state == "suppressed"]
    assert [row.recipient for row in suppressed] == [robot.lower(), "MAILER-DAEMON@mx.example.net"]
    assert {row.error for row in suppressed} == {"automatic mail is never sent to a no-reply or mailer address"}
    assert len(events(office, "delivery-suppressed")) == 2


def test_an_address_that_bounced_gets_no_automatic_mail_but_a_caseworkers_letter(
        office: Hub, smtp: SmtpServer) -> None:
    hub, clock, hold = office, clock_of(office), office.config.limits.bounce_hold_days
    lee = "lee@example.org"
    feed(hub, email(sender=lee, subject="First"))
    assert deliver_due(hub).counts == {"sent": 2}
    with hub.sessions.begin() as session:
        session.execute(update(Party).where(Party.email == lee).values(
            bounced_at=clock.now(), bounce_reason="550 5.1.1 mailbox full"))
    clock.advance(timedelta(days=1))
    outcome = feed(hub, email(sender=lee, subject="Second"))
    assert outcome.case_ref is not None
    assert deliver_due(hub).counts == {"sent": 1, "suppressed": 1}
    (held,) = [row for row in outbox(hub) if row.state == "suppressed"]
    assert (held.letter, held.recipient) == ("acknowledgement", lee)
    assert held.error.startswith("the address bounced on ")
    assert [event.case_id for event in events(hub, "delivery-suppressed")] == [held.case_id]
    assert len(smtp.sent_to(lee)) == 1

    letter_send.send(hub, "constituent-update", outcome.case_ref, None, force=False)
    assert deliver_due(hub).counts == {"sent": 1}, "a caseworker's letter goes to an address that bounced"
    assert len(smtp.sent_to(lee)) == 2

    clock.advance(timedelta(days=hold))
    feed(hub, email(sender=lee, subject="Third"))
    assert deliver_due(hub).counts == {"sent": 2}, f"after {hold} days automatic mail goes again"
    assert len(smtp.sent_to(lee)) == 3


# --- giving up ------------------------------------------------------------------------------------


def test_mail_refused_for_now_is_retried_with_growing_pauses_then_given_up_and_the_caseworker_told(
        office: Hub, smtp: SmtpServer) -> None:
    hub, clock = office, clock_of(office)
    give_up = timedelta(hours=hub.config.outbound.give_up_hours)
    feed(hub, email(sender=f"Pat Example <{PAT}>", subject="Help"))
    created = clock.now()
    for address in (PAT, STAFF):  # the server answers, and refuses each message for now
        smtp.refuse_recipient(address, 451, "4.3.0 Try again later")

    def ack() -> Outbox:
        return next(row for row in outbox(hub) if row.letter == "acknowledgement")

    pauses: list[timedelta] = []
    attempts_at: list[datetime] = []
    while True:
        attempts_at.append(clock.now())
        report = deliver_due(hub)
        row = ack()
        if row.state != "pending":
            assert report.counts == {"failed": 2, "retrying": 1}, "both given up; the notice of it waits"
            break
        assert report.counts == {"retrying": 2}, "the acknowledgement and the notification wait"
        assert row.attempts == len(attempts_at) and "recipient refused: 451 4.3.0" in row.error
        pause = as_utc(row.not_before) - clock.now()
        pauses.append(pause)
        if len(pauses) <= 3:
            clock.advance(pause - timedelta(seconds=1))
            assert deliver_due(hub).counts == {}, "nothing goes before the pause is over"
            clock.advance(timedelta(seconds=1))
        else:
            clock.advance(pause)
        assert len(attempts_at) < 200, "never given up"
    minute = timedelta(minutes=1)
    assert pauses[:7] == [minute, 2 * minute, 4 * minute, 8 * minute, 16 * minute, 32 * minute, 60 * minute]
    assert set(pauses[6:]) == {60 * minute}, "the pause grows to an hour and stays there"
    assert attempts_at[-2] - created < give_up <= attempts_at[-1] - created, "given up at the first try after"

    # Given up: the row failed, the case says so, and the caseworker is to be told.
    row = ack()
    assert row.state == "failed"
    assert row.error.startswith(f"gave up after {len(attempts_at)} attempts: ")
    (failed_event,) = [event for event in events(hub, "delivery-failed") if event.case_id == row.case_id
                       and event.detail.startswith("acknowledgement")]
    assert failed_event.detail.startswith(f"acknowledgement to {PAT}: gave up after")
    notices = [queued for queued in outbox(hub) if queued.letter == "caseworker-notification"
               and str(queued.context.get("notice", "")).startswith("Delivery failed")]
    assert len(notices) == 1
    (notice,) = notices
    assert notice.recipient == STAFF and notice.state == "pending" and notice.case_id == row.case_id
    assert notice.context["notice"] == "Delivery failed: acknowledgement", "short: it is the subject"
    assert str(notice.context["text"]).startswith(f"The acknowledgement to {PAT} was not delivered: gave up after")
    assert smtp.messages == []
    assert row.attempts == len(attempts_at), "the row counts the attempts its error names"

    # When the server takes mail again, the notice goes, once; the given-up message does not.
    for address in (PAT, STAFF):
        smtp.accept_recipient(address)
    clock.at = as_utc(notice.not_before)
    assert deliver_due(hub).counts == {"sent": 1}
    clock.advance(timedelta(hours=2))
    assert deliver_due(hub).counts == {}
    (told,) = smtp.messages
    assert told.rcpt_tos == (STAFF,) and "Delivery failed" in told.message.get_content()
    assert ack().state == "failed"
    accepted_once(smtp, [row for row in outbox(hub) if row.state == "sent"])

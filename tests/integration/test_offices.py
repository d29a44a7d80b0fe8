"""Several offices on one deployment (`hub run --deployment FILE`), each with its own database on the test
PostgreSQL server.

What these tests prove:

- The daemon runs every office of the file in one process: mail delivered to each office's own Dovecot is
  filed by that office alone, and each office's log lines carry its name (its lease keeper's too); an
  office whose configuration is broken is reported by name and tried again while the others run; SIGTERM
  stops them all with exit 0.
- Nothing crosses between offices: a message to office B that quotes office A's case reference (in the
  subject, the plus-address and In-Reply-To of A's acknowledgement) threads into nothing of A's, nor into
  B's own case of the same number; B files it by its own rules and answers without a word of A's case;
  a caseworker's command to B naming A's reference changes nothing anywhere and is refused.
- `--worker K/N` splits the offices by the documented hash: workers 1/2 and 2/2 together run each office
  once, and each only its own share.
- Offices on SQLite (each its own file) keep their cases apart as those on PostgreSQL do.
- Under systemd's notify protocol (a datagram socket of the test's own as $NOTIFY_SOCKET) the process says
  READY=1 once its offices run (naming one that does not), pings the watchdog while they do, goes silent
  while an office's event loop does not answer and pings again when it does, keeps pinging (and says
  "degraded") while an office's job merely fails, and says STOPPING=1 at SIGTERM.
- An office's pooled connections are taken only in one of the process's turns: the budget of connections holds,
  and none is in use when its pool is closed after its last job.

Both offices come from the same packaged configuration (the same address, reference prefix and staff):
only their secrets and their databases differ, the hardest case for keeping them apart.
"""

from __future__ import annotations

import asyncio
import mailbox
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from hub.cli.main import main
from hub.core.app import Hub, open_hub
from hub.core.clock import Clock
from hub.core.logs import office_names_in_logs
from hub.core.models import Case, Event, Message, Outbox
from hub.run import offices as offices_module
from hub.run.cycle import inbox_name
from hub.run.deployment import load_deployment, worker_of
from hub.run.offices import JOBS_AT_ONCE, POOL, OfficeThread, watch
from hub.run.sd_notify import Notifier, Watchdog
from tests.helpers import OFFICE_ADDRESS, STAFF, START, Tally, deliver, email, make_office, tally, vouched
from tests.hub_process import HubProcess, wait_until
from tests.notify_socket import Listener, listening
from tests.postgres import PostgresDatabases, require
from tests.servers.dovecot import DovecotServer, running_dovecot

pytestmark = pytest.mark.integration

ARRIVAL = 30.0  # seconds from an office's INBOX to its database: IDLE takes about one


@dataclass
class Office:
    name: str
    hub: Hub
    config: Path


@pytest.fixture
def postgres_server(postgres: PostgresDatabases) -> PostgresDatabases:
    reason = postgres.unavailable_reason()
    if reason:
        require(reason)
    return postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A new database's URL for the office named: a file of its own on SQLite, or on the PostgreSQL server."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    postgres: PostgresDatabases = request.getfixturevalue("postgres_server")
    return lambda _name: postgres.fresh()


def make_offices(tmp_path: Path, databases: PostgresDatabases | Callable[[str], str], names: list[str],
                 inboxes: dict[str, str] | None = None) -> Iterator[list[Office]]:
    url = (lambda _name: databases.fresh()) if isinstance(databases, PostgresDatabases) else databases
    offices = [Office(name, hub := make_office(tmp_path / name, url(name), (inboxes or {}).get(name)),
                      hub.config.path) for name in names]
    try:
        yield offices
    finally:
        for office in offices:
            office.hub.close()


def deployment_file(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "deployment.toml"
    path.write_text("".join(f'[[office]]\nname = "{name}"\nconfig = "{name}/config/hub.toml"\n\n' for name in names))
    return path


def run_once(deployment: Path, *more: str) -> int:
    return main(["run", "--deployment", str(deployment), "--once", "--at", START.isoformat(), *more])


def subjects(hub: Hub) -> list[str]:
    with hub.sessions() as session:
        return list(session.scalars(select(Message.subject).where(Message.direction == "in").order_by(Message.id)))


def case_refs(hub: Hub) -> list[str]:
    with hub.sessions() as session:
        return list(session.scalars(select(Case.ref).order_by(Case.id)))


def letters(hub: Hub) -> list[tuple[str, str, str]]:
    """(recipient, subject, body) of every letter the office queued."""
    with hub.sessions() as session:
        return [(row.recipient, row.subject or "", row.body or "")
                for row in session.scalars(select(Outbox).order_by(Outbox.id))]


def snapshot(hub: Hub) -> tuple[object, ...]:
    """Everything about an office's cases that another office's mail could change."""
    with hub.sessions() as session:
        cases = [(c.ref, c.status, c.assignee, c.agency) for c in session.scalars(select(Case).order_by(Case.id))]
        events = len(list(session.scalars(select(Event.id))))
        messages = len(list(session.scalars(select(Message.id))))
    return (cases, events, messages, len(letters(hub)))


def test_the_daemon_runs_each_office_on_its_own_mail_and_a_broken_one_leaves_the_others_running(
        tmp_path: Path, postgres_server: PostgresDatabases, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_dovecot(tmp_path / "dovecot-a") as dovecot_a, running_dovecot(tmp_path / "dovecot-b") as dovecot_b:
        servers: dict[str, DovecotServer] = {"a": dovecot_a, "b": dovecot_b}
        monkeypatch.setenv("HUB_INBOX_PASSWORD", dovecot_a.password)
        assert dovecot_b.password == dovecot_a.password, "both offices log in with the one password variable"
        # (an office's own [inbox] password_env names another variable where its password differs)
        for offices in make_offices(tmp_path, postgres_server, ["a", "b"],
                                    {name: server.imap_url() for name, server in servers.items()}):
            broken = tmp_path / "c" / "config"
            broken.mkdir(parents=True)
            (broken / "hub.toml").write_text('[office]\nnaem = "typo"\n')
            deployment = deployment_file(tmp_path, ["a", "b", "c"])
            daemon = HubProcess(None, tmp_path / "hub.log", command=("run", "--deployment", str(deployment)))
            try:
                assert "hub running 3 of the 3 offices" in daemon.wait_for_start()
                for office in offices:
                    servers[office.name].deliver(email(subject=f"Only for office {office.name}"))
                for office in offices:
                    wait_until(lambda hub=office.hub: bool(subjects(hub)), ARRIVAL, f"office {office.name}'s mail")
                wait_until(lambda log=daemon.stderr: "c: cannot run" in log(), ARRIVAL, "office c's failure logged")
                # Its first pass may file the mail before its start line is out, on a loaded machine.
                for name in ("a", "b"):
                    wait_until(lambda name=name, lines=daemon.lines: any(
                        line.startswith(f"{name}: hub running: inbox imap:") for line in lines), ARRIVAL,
                        f"office {name}'s start line")
                code, _ = daemon.stop()
            finally:
                daemon.close()
            assert code == 0, daemon.stderr()
            for office in offices:
                assert subjects(office.hub) == [f"Only for office {office.name}"]
                assert tally(office.hub).cases == 1
            log = daemon.stderr()
            assert re.search(r"ERROR hub\.run\.offices: c: cannot run: .*/c/config/hub\.toml: \[office\]", log), log
            for name in ("a", "b"):
                assert re.search(rf"INFO hub\.intake\.drain: {name}: imap:", log), log
                assert re.search(rf"INFO hub\.sources\.imap: {name}: imap:.*created folder Processed", log), log
                assert re.search(rf"INFO hub\.run\.lease_keeper: {name}: inbox:imap:.*this process holds it", log), log
            assert "Traceback" not in log


def test_an_office_whose_schema_changes_under_the_daemon_stops_and_the_others_run_on(
        tmp_path: Path, databases: Callable[[str], str]) -> None:
    for offices in make_offices(tmp_path, databases, ["a", "b"]):
        for office in offices:
            config = office.config.read_text()
            office.config.write_text(config.replace("# poll_seconds = 60\n", "poll_seconds = 1\n", 1))
        deployment = deployment_file(tmp_path, ["a", "b"])
        daemon = HubProcess(None, tmp_path / "hub.log", command=("run", "--deployment", str(deployment)))
        try:
            assert "hub running 2 of the 2 offices" in daemon.wait_for_start()
            wait_until(lambda log=daemon.stderr: "INFO hub.intake.drain: a: maildir:" in log(), ARRIVAL,
                       "office a's first pass")
            with offices[0].hub.engine.begin() as connection:
                connection.execute(text("UPDATE alembic_version SET version_num = 'f00000000001'"))
            wait_until(lambda log=daemon.stderr: "a: cannot run: the database's schema changed while the hub ran: "
                       "the database is at schema f00000000001, newer than this hub" in log(), ARRIVAL,
                       "office a stopped on its schema")
            other = offices[1].hub
            inbox = other.config.resolve("var/inbox")
            wait_until(lambda inbox=inbox: all((inbox / sub).is_dir() for sub in ("cur", "new", "tmp")), ARRIVAL,
                       "b's inbox")
            mailbox.Maildir(inbox, create=False).add(email(subject="Still for office b"))
            wait_until(lambda hub=other: subjects(hub) == ["Still for office b"], ARRIVAL, "office b's mail filed")
            code, _ = daemon.stop()
        finally:
            daemon.close()
        assert code == 0, daemon.stderr()
        assert "Traceback" not in daemon.stderr()


def test_another_offices_reference_threads_into_nothing_of_it(tmp_path: Path,
                                                              databases: Callable[[str], str]) -> None:
    for a, b in make_offices(tmp_path, databases, ["a", "b"]):
        deployment = deployment_file(tmp_path, ["a", "b"])
        deliver(a.hub, email(sender="Pat Example <pat@example.com>", subject="My pension from the VA stopped",
                             body="My VA claim number is 123-45-6789. Please help."))
        deliver(b.hub, email(sender="Lee Other <lee@example.net>", subject="Passport delayed"))
        assert run_once(deployment) == 0
        (a_ref,), (b_ref,) = case_refs(a.hub), case_refs(b.hub)
        assert a_ref.split("-")[:3] == b_ref.split("-")[:3], "the same prefix, year and number in both offices"
        assert a_ref != b_ref, "their check codes differ: each office's secret makes its own"
        assert a.hub.engine.url != b.hub.engine.url, "each office its own database"
        before = snapshot(a.hub)

        # Robin writes to office B quoting everything of A's case: its reference, A's acknowledgement's
        # Message-ID, the plus-address that carries the reference.
        a_ack = a.hub.refs.message_id(a.hub.config.office.domain, a_ref)
        parsed = a.hub.refs.parse(a_ref)
        assert parsed is not None
        plus = a.hub.refs.plus_address(OFFICE_ADDRESS, parsed)
        deliver(b.hub, email(sender="Robin Stranger <robin@example.org>", to=plus, subject=f"Re: [{a_ref}] update?",
                             body=f"About case {a_ref}: what is happening?",
                             headers={"In-Reply-To": a_ack, "References": a_ack}))
        assert run_once(deployment) == 0

        assert snapshot(a.hub) == before, "office A saw nothing of it"
        assert subjects(a.hub) == ["My pension from the VA stopped"]
        with b.hub.sessions() as session:
            robin = session.scalars(select(Message).where(Message.sender.contains("robin@example.org"))).one()
            lee_case = session.scalars(select(Case).where(Case.ref == b_ref)).one()
            assert robin.case_id != lee_case.id, "not threaded into B's own case of the same number"
            assert robin.case_id is not None or robin.disposition == "triage", (robin.case_id, robin.disposition)
        for recipient, subject, body in letters(b.hub):
            for secret in ("pension", "VA claim", "123-45-6789", "Pat Example", "pat@example.com"):
                assert secret not in subject and secret not in body, (recipient, subject)
        assert not any(recipient == "pat@example.com" for recipient, _, _ in letters(b.hub))


def test_a_command_to_one_office_naming_anothers_reference_is_refused(tmp_path: Path,
                                                                       postgres_server: PostgresDatabases) -> None:
    for a, b in make_offices(tmp_path, postgres_server, ["a", "b"]):
        deployment = deployment_file(tmp_path, ["a", "b"])
        deliver(a.hub, email(subject="My pension from the VA stopped"))
        assert run_once(deployment) == 0
        (a_ref,) = case_refs(a.hub)
        before = snapshot(a.hub)
        command = email(sender=f"Maria Lopez <{STAFF}>", subject=f"[{a_ref}] closing", body="#close\n#assign sam\n",
                        headers={"Authentication-Results": vouched(STAFF)})
        deliver(b.hub, command)
        assert run_once(deployment) == 0
        assert snapshot(a.hub) == before
        with b.hub.sessions() as session:
            assert not session.scalars(select(Case).where(Case.ref == a_ref)).all()
            assert all(case.status != "closed" for case in session.scalars(select(Case)))
        assert tally(b.hub) == Tally(cases=0, messages=1, on_cases=0, triage=1, quarantine=0)
        ((subject, body),) = [(subject, body) for recipient, subject, body in letters(b.hub) if recipient == STAFF]
        assert subject == f"In triage: [{a_ref}] closing", "held for a person, its commands not applied"
        assert f"reference check failed: {a_ref} does not verify" in body and "No likely case was found." in body


def test_workers_split_the_offices_by_the_hash_of_their_names(tmp_path: Path,
                                                              postgres_server: PostgresDatabases) -> None:
    names = ["north", "south", "east", "west"]
    assert {worker_of(name, 2) for name in names} == {1, 2}, "both workers have offices to run"
    for offices in make_offices(tmp_path, postgres_server, names):
        deployment = deployment_file(tmp_path, names)
        for office in offices:
            deliver(office.hub, email(subject=f"For {office.name}"))
        assert run_once(deployment, "--worker", "1/2") == 0
        ran = {office.name for office in offices if subjects(office.hub)}
        assert ran == {name for name in names if worker_of(name, 2) == 1}
        assert run_once(deployment, "--worker", "2/2") == 0
        for office in offices:
            assert subjects(office.hub) == [f"For {office.name}"], "each office drained once, by its own worker"


def test_once_reports_a_broken_office_and_runs_the_others(tmp_path: Path, postgres_server: PostgresDatabases,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    for (a,) in make_offices(tmp_path, postgres_server, ["a"]):
        deployment = deployment_file(tmp_path, ["broken", "a"])
        deliver(a.hub, email(subject="Still filed"))
        assert run_once(deployment) == 1
        out = capsys.readouterr().out
        assert "2 offices (worker 1/1): 1 ran, 1 failed" in out
        assert re.search(r"broken: .*broken/config/hub\.toml: no such configuration file", out), out
        assert subjects(a.hub) == ["Still filed"]


WATCHDOG_SECONDS = 1.0  # a ping every half second


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening("deployment") as found:
        yield found


def sqlite_offices(tmp_path: Path, names: list[str]) -> Generator[list[Office], None, None]:
    """Offices on SQLite whose Maildir inbox is read every second."""
    for offices in make_offices(tmp_path, lambda name: f"sqlite:///{tmp_path / name}.db", names):
        for office in offices:
            text = office.config.read_text()
            office.config.write_text(text.replace("# poll_seconds = 60\n", "poll_seconds = 1\n", 1))
        yield offices


def test_under_systemd_a_deployment_says_ready_once_its_offices_run_pings_and_says_stopping(
        tmp_path: Path, listener: Listener) -> None:
    for _offices in sqlite_offices(tmp_path, ["a", "b"]):
        broken = tmp_path / "c" / "config"
        broken.mkdir(parents=True)
        (broken / "hub.toml").write_text('[office]\nnaem = "typo"\n')
        deployment = deployment_file(tmp_path, ["a", "b", "c"])
        env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6))}
        daemon = HubProcess(None, tmp_path / "hub.log", env, command=("run", "--deployment", str(deployment)))
        try:
            daemon.wait_for_start()
            wait_until(lambda: bool(listener.fields("READY=1")), 30, "READY=1")
            (_, ready), = listener.fields("READY=1")
            assert ready.startswith("READY=1\nSTATUS=hub running 3 of the 3 offices"), ready
            assert ready.endswith("; not running yet: c"), "READY before offices a and b ran, or c not named"
            wait_until(lambda: listener.pings_since(time.monotonic() - 2) >= 3, 10, "watchdog pings")
            code, _ = daemon.stop(timeout=30)
            assert code == 0, daemon.stderr()
            wait_until(lambda: bool(listener.fields("STOPPING=1")), 5, "STOPPING=1")
        finally:
            daemon.close()
        assert not listener.fields("STATUS=degraded"), listener.received
        assert "Traceback" not in daemon.stderr()


def test_the_watchdog_falls_silent_while_an_offices_loop_does_not_answer_but_not_while_a_job_fails(
        tmp_path: Path, listener: Listener, caplog: pytest.LogCaptureFixture) -> None:
    """In this process, to hang an office's event loop for real: a callback that sleeps in it."""
    made = sqlite_offices(tmp_path, ["a", "b"])
    _a, b = next(made)
    deployment = load_deployment(deployment_file(tmp_path, ["a", "b"]))
    turns = threading.BoundedSemaphore(JOBS_AT_ONCE)
    threads = [OfficeThread(entry, lambda _hub: None, lambda _line: None, 0.1, turns)
               for entry in deployment.offices]
    notifier = Notifier({"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6))})
    stopping = threading.Event()
    watchdog = threading.Thread(target=watch, args=(threads, Watchdog(notifier, "hub running"), stopping))
    try:
        with office_names_in_logs():
            for thread in threads:
                thread.thread.start()
            wait_until(lambda: all(thread.running for thread in threads), 30, "both offices running")
            watchdog.start()
            wait_until(lambda: listener.pings_since(time.monotonic() - 2) >= 3, 10, "watchdog pings")

            hung = time.monotonic()
            asyncio_loop(threads[0]).call_soon_threadsafe(time.sleep, 3 * WATCHDOG_SECONDS)
            wait_until(lambda: bool(listener.fields("STATUS=degraded: a: its thread has not answered")), 5,
                       "the watchdog falling silent")
            # Under load office b's thread may also be slow to answer for a moment, and say so first: the
            # silence looked at is office a's, for as long as its loop is surely asleep.
            silent = listener.fields("STATUS=degraded: a: its thread has not answered")[0][0]
            assert silent - hung < 2 * WATCHDOG_SECONDS, "systemd would have killed it before a word"
            asleep_until = hung + 3 * WATCHDOG_SECONDS
            time.sleep(max(0.0, asleep_until - time.monotonic()))
            assert listener.pings_between(silent, asleep_until) == 0, "pings while office a's loop did not answer"
            wait_until(lambda: listener.pings_since(hung + 3 * WATCHDOG_SECONDS) >= 2, 10,
                       "pings once it answers")

            # Office b's inbox fails (its new/ is a file): its job goes stale while idle between attempts;
            # restarting every office would not mend that, so the pings go on, saying so.
            new = Path(inbox_name(b.hub).removeprefix("maildir:")) / "new"
            new.rmdir()
            new.write_text("not a folder")
            wait_until(lambda: bool(listener.fields("STATUS=degraded: b: job inbox: stale")), 15,
                       "office b's stale job reported")
            reported = listener.fields("STATUS=degraded: b: job inbox: stale")[0][0]
            assert listener.fields("STATUS=degraded: b: job inbox: stale")[0][1].startswith("WATCHDOG=1\n")
            wait_until(lambda: listener.pings_since(reported + 0.05) >= 3, 10, "pings while b's job fails")
    finally:
        stopping.set()
        for thread in threads:
            thread.stop()
        for thread in threads:
            thread.thread.join(30)
        if watchdog.is_alive():
            watchdog.join(10)
        made.close()  # the offices closed
    log = caplog.text
    assert "watchdog: not telling systemd all is well, which restarts the hub: a: its thread has not" in log
    assert "watchdog: the jobs run again" in log
    assert "watchdog: telling systemd all is well, as a restart would not mend it: b: job inbox: stale" in log


class HeldTurns(threading.BoundedSemaphore):
    """The process's turns, knowing which threads hold one."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.holders: set[int] = set()

    def __enter__(self) -> bool:
        taken = super().__enter__()
        self.holders.add(threading.get_ident())
        return taken

    def __exit__(self, *exc_info: object) -> None:
        self.holders.discard(threading.get_ident())
        super().__exit__(*exc_info)


def test_an_offices_pooled_connections_are_taken_only_in_a_turn(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One taken outside a turn breaks the process's budget of connections (JOBS_AT_ONCE x 3); and one in use
    when the office's last running job closes its pool is left to the garbage collector, never closed (Python
    3.13 warns of it)."""
    made = sqlite_offices(tmp_path, ["a"])
    next(made)
    turns = HeldTurns(JOBS_AT_ONCE)
    taken: list[bool] = []  # for each connection taken from the office's pool: whether in a turn

    def opened(path: Path, clock: Clock | None = None, pool: tuple[int, int] | None = None) -> Hub:
        hub = open_hub(path, clock, pool)
        if pool == POOL:
            event.listen(hub.engine, "checkout",
                         lambda *_: taken.append(threading.get_ident() in turns.holders))
        return hub

    monkeypatch.setattr(offices_module, "open_hub", opened)
    entry, = load_deployment(deployment_file(tmp_path, ["a"])).offices
    thread = OfficeThread(entry, lambda _hub: None, lambda _line: None, 0.1, turns)
    thread.thread.start()
    try:
        wait_until(lambda: len(taken) >= 10, 30, "the office's jobs taking connections")
    finally:
        thread.stop()
        thread.thread.join(30)
        made.close()
    assert not thread.thread.is_alive()
    assert all(taken), f"{taken.count(False)} of {len(taken)} connections taken outside a turn"


def asyncio_loop(thread: OfficeThread) -> asyncio.AbstractEventLoop:
    running = thread._running
    assert running is not None
    return running[0]

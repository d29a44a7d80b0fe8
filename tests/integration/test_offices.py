"""Several offices on one deployment (`hub run --deployment FILE`), each with its own database on the test
PostgreSQL server.

What these tests prove:

- The daemon runs every office of the file in one process: mail delivered to each office's own Dovecot is
  filed by that office alone, and each office's log lines carry its name; an office whose configuration is
  broken is reported by name and tried again while the others run; SIGTERM stops them all with exit 0.
- Nothing crosses between offices: a message to office B that quotes office A's case reference (in the
  subject, the plus-address and In-Reply-To of A's acknowledgement) threads into nothing of A's, nor into
  B's own case of the same number; B files it by its own rules and answers without a word of A's case;
  a caseworker's command to B naming A's reference changes nothing anywhere and is refused.
- `--worker K/N` splits the offices by the documented hash: workers 1/2 and 2/2 together run each office
  once, and each only its own share.

Both offices come from the same packaged configuration (the same address, reference prefix and staff):
only their secrets and their databases differ, the hardest case for keeping them apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli.main import main
from hub.core.app import Hub
from hub.core.models import Case, Event, Message, Outbox
from hub.run.deployment import worker_of
from tests.helpers import OFFICE_ADDRESS, STAFF, START, Tally, deliver, email, make_office, tally, vouched
from tests.hub_process import HubProcess, wait_until
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


def make_offices(tmp_path: Path, postgres: PostgresDatabases, names: list[str],
                 inboxes: dict[str, str] | None = None) -> Iterator[list[Office]]:
    offices = [Office(name, hub := make_office(tmp_path / name, postgres.fresh(), (inboxes or {}).get(name)),
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
                assert any(line.startswith(f"{name}: hub running: inbox imap:") for line in daemon.lines), daemon.lines
            assert "Traceback" not in log


def test_another_offices_reference_threads_into_nothing_of_it(tmp_path: Path,
                                                              postgres_server: PostgresDatabases) -> None:
    for a, b in make_offices(tmp_path, postgres_server, ["a", "b"]):
        deployment = deployment_file(tmp_path, ["a", "b"])
        deliver(a.hub, email(sender="Pat Example <pat@example.com>", subject="My pension from the VA stopped",
                             body="My VA claim number is 123-45-6789. Please help."))
        deliver(b.hub, email(sender="Lee Other <lee@example.net>", subject="Passport delayed"))
        assert run_once(deployment) == 0
        (a_ref,), (b_ref,) = case_refs(a.hub), case_refs(b.hub)
        assert a_ref.split("-")[:3] == b_ref.split("-")[:3], "the same prefix, year and number in both offices"
        assert a_ref != b_ref, "their check codes differ: each office's secret makes its own"
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

"""The metrics (hub.run.metrics), parsed back with prometheus_client's own text parser: what the database
says (health, letters by state, queues, reminder lag, each job's last success), what this process
counted (messages by fate, failed token requests), which process holds the inbox's lease and whether this one
does (since when), and a database that does not answer."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.core.app import Hub
from hub.core.config_oauth2 import OAuth2
from hub.core.leases import Holder
from hub.core.models import Case, Outbox, Reminder
from hub.intake.drain import drain
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake
from hub.oauth2.source import TokenSource, provider_for
from hub.oauth2.token import TokenUnavailable
from hub.run.cycle import inbox_lease_name, inbox_name
from hub.run.heartbeat import JOB_PREFIX, record
from hub.run.jobs import office_jobs
from hub.run.lease_keeper import LeaseKeeper
from hub.run.metrics import exposition
from hub.sources.files import FileSource
from tests.helpers import email, make_office


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    office = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'hub.db'}")
    yield office
    office.close()


def scrape(hub: Hub, inbox: LeaseKeeper | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Each sample by name and labels."""
    body, content_type = exposition(hub, "", inbox)
    assert content_type.startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def add_letter(hub: Hub, n: int, state: str, due_minutes_ago: float = 0, attempts: int = 0) -> None:
    now = hub.clock.now()
    with hub.sessions.begin() as session:
        session.add(Outbox(letter="acknowledgement", recipient=f"person{n}@example.com", message_id=f"<m{n}@hub>",
                           state=state, attempts=attempts, not_before=now - timedelta(minutes=due_minutes_ago),
                           created_at=now - timedelta(minutes=due_minutes_ago)))


def test_the_database_figures(hub: Hub) -> None:
    now = hub.clock.now()
    found = scrape(hub)
    assert found[("hub_database_up", ())] == 1
    assert found[("hub_healthy", ())] == 0 and found[("hub_problems", (("kind", "not-run"),))] == 1
    for job in office_jobs(hub):
        record(hub.sessions, JOB_PREFIX + job.name, now - timedelta(seconds=3))
    record(hub.sessions, inbox_name(hub), now - timedelta(seconds=3), "OSError: gone")
    add_letter(hub, 1, "pending", due_minutes_ago=4)
    add_letter(hub, 2, "pending", due_minutes_ago=-10, attempts=2)
    add_letter(hub, 3, "sent")
    add_letter(hub, 4, "sent")
    add_letter(hub, 5, "failed")
    with hub.sessions.begin() as session:
        case = Case(ref="CW-26-00001-AA", subject="Help", opened_at=now, updated_at=now)
        session.add(case)
        session.flush()
        session.add(Reminder(case_id=case.id, kind="followup", due_at=now - timedelta(minutes=7), created_at=now))
    found = scrape(hub)
    assert found[("hub_healthy", ())] == 0 and found[("hub_problems", (("kind", "failing"),))] == 1
    assert found[("hub_problems", (("kind", "not-run"),))] == 0
    letters = {labels[0][1]: value for (name, labels), value in found.items() if name == "hub_letters"}
    assert letters == {"pending": 2, "sending": 0, "sent": 2, "failed": 1, "suppressed": 0, "cancelled": 0,
                       "folded": 0}
    assert (found[("hub_outbox_waiting", ())], found[("hub_outbox_due", ())], found[("hub_outbox_retrying", ())]) == (
        2, 1, 1)
    assert found[("hub_outbox_oldest_due_seconds", ())] == 240
    assert found[("hub_reminders_due", ())] == 1 and found[("hub_reminder_lag_seconds", ())] == 420
    assert found[("hub_job_last_success_timestamp_seconds", (("job", "outbox"),))] == (now.timestamp() - 3)
    assert found[("hub_source_failing", (("source", inbox_name(hub)),))] == 1
    assert found[("hub_quarantine_held", ())] == 0 and found[("hub_triage_waiting", ())] == 0


def test_messages_by_fate_and_token_failures_are_counted_by_the_process(hub: Hub, tmp_path: Path) -> None:
    before = scrape(hub)
    paths = []
    for n, person in enumerate([0, 1, 0]):  # the third is the first again: a duplicate
        paths.append(tmp_path / f"{n}.eml")
        paths[-1].write_bytes(email(message_id=f"<m{person}@example.com>", sender=f"P{person} <p{person}@example.com>"))
    drain(Intake.of(hub), FileSource(paths, hub.config.limits.max_message_bytes), parse_email)

    with socket.socket() as closed:  # a port nobody listens on: the token endpoint cannot be reached
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = OAuth2(provider="generic", scope="mail", client_id="hub", token_url=f"https://127.0.0.1:{port}/token")
    tokens = TokenSource(provider_for(settings), attempts=2, first_pause=0)
    with pytest.raises(TokenUnavailable):
        tokens.token()

    after = scrape(hub)

    def grew(name: str, label: str, value: str) -> float:
        key = (name, ((label, value),))
        return after.get(key, 0) - before.get(key, 0)
    assert grew("hub_messages_total", "fate", "new-case") == 2 and grew("hub_messages_total", "fate", "duplicate") == 1
    assert grew("hub_oauth2_token_failures_total", "kind", "unavailable") == 2


def test_a_database_that_does_not_answer_leaves_the_process_figures(hub: Hub, tmp_path: Path) -> None:
    hub.engine.dispose()
    (tmp_path / "hub.db").unlink()
    (tmp_path / "hub.db").mkdir()  # not a database file any more
    found = scrape(hub)
    assert found[("hub_database_up", ())] == 0
    assert ("hub_healthy", ()) not in found


def test_the_inbox_lease_says_which_process_reads_the_mailbox_and_whether_this_one_does(hub: Hub) -> None:
    lease = inbox_lease_name(hub)
    mine = LeaseKeeper(hub.sessions, lease)
    other = LeaseKeeper(hub.sessions, lease, holder=Holder(host="other-host", pid=4242))
    found = scrape(hub, mine)
    assert found[("hub_inbox_lease_held", (("lease", lease),))] == 0
    assert not [key for key in found if key[0] == "hub_inbox_lease_holder"], "nobody holds it yet"

    assert other.claim() and not mine.claim()
    found = scrape(hub, mine)
    assert found[("hub_inbox_lease_held", (("lease", lease),))] == 0
    assert found[("hub_inbox_lease_holder", (("host", "other-host"), ("lease", lease), ("pid", "4242")))] == 1
    assert not [key for key in found if key[0] == "hub_inbox_lease_held_since_timestamp_seconds"]

    other.close()  # a clean stop gives it up
    before = time.time()
    assert mine.claim()
    found = scrape(hub, mine)
    assert found[("hub_inbox_lease_held", (("lease", lease),))] == 1
    assert found[("hub_inbox_lease_holder", (("host", socket.gethostname()), ("lease", lease),
                                             ("pid", str(os.getpid()))))] == 1
    since = found[("hub_inbox_lease_held_since_timestamp_seconds", (("lease", lease),))]
    assert before - 1 <= since <= time.time() + 1
    assert mine.claim()  # renewed: still held since it was taken
    assert scrape(hub, mine)[("hub_inbox_lease_held_since_timestamp_seconds", (("lease", lease),))] == since
    assert not [key for key in scrape(hub) if key[0] == "hub_inbox_lease_held"], "only a daemon says what it holds"

"""Delivery's batches (hub.delivery.claims): letters claimed and prepared a few at a time, on SQLite and PostgreSQL.

The caps count the letters of a batch that are to go with the ones sent (those of the batches before in the same
pass too); a pass asked to stop in the middle of a batch, or after some batches, releases the rest, which the next
pass sends once; a batch costs one claim and one commit before its sends.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.models import Case
from hub.delivery.claims import Claims
from hub.delivery.deliver import LEASE, deliver_due
from hub.letters.outbox import AUTO_REPLIED, enqueue
from tests.helpers import START, email, feed, make_office
from tests.integration.test_delivery import clock_of, outbox
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration
PER_ADDRESS, PER_CASE = 3, 4
HELPER = "helper@example.org"


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    made = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    made.close()
    path = made.config.path
    text = path.read_text().replace("auto_mail_per_address = 10", f"auto_mail_per_address = {PER_ADDRESS}", 1)
    path.write_text(text.replace("auto_mail_per_case = 10", f"auto_mail_per_case = {PER_CASE}", 1))
    hub = open_hub(path, FixedClock(START))
    yield hub
    hub.close()


def cases(hub: Hub, count: int) -> list[Case]:
    """`count` cases whose own mail has gone, and the caps' window passed since."""
    for n in range(count):
        feed(hub, email(sender=f"p{n}@example.com", subject=f"Problem {n}"))
    assert set(deliver_due(hub).counts) == {"sent"}
    clock_of(hub).advance(timedelta(minutes=hub.config.limits.auto_mail_window_minutes, seconds=1))
    with hub.sessions() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def queue(hub: Hub, case: Case, recipient: str) -> None:
    with hub.sessions.begin() as session:
        enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter="acknowledgement",
                recipient=recipient, refs=hub.refs, domain=hub.config.office.domain, now=hub.clock.now(),
                automatic=AUTO_REPLIED)


def test_the_caps_count_the_letters_of_the_same_batch(office: Hub, smtp: SmtpServer) -> None:
    assert PER_ADDRESS + 2 <= Claims.BATCH and PER_CASE + 2 <= Claims.BATCH
    first, *others = cases(office, PER_ADDRESS + 2)
    for case in [first, *others]:  # one address, on as many cases
        queue(office, case, HELPER)
    assert deliver_due(office).counts == {"sent": PER_ADDRESS, "suppressed": 2}
    assert len(smtp.sent_to(HELPER)) == PER_ADDRESS
    capped = [row for row in outbox(office) if row.state == "suppressed"]
    assert [row.recipient for row in capped] == [HELPER] * 2
    assert all(row.error.startswith(f"cap: {PER_ADDRESS} automatic messages to this address") for row in capped)

    for n in range(PER_CASE + 2):  # one case, to as many addresses
        queue(office, others[0], f"someone{n}@example.org")
    # Its letter to HELPER went in the window: PER_CASE - 1 more may go.
    assert deliver_due(office).counts == {"sent": PER_CASE - 1, "suppressed": 3}
    capped = [row for row in outbox(office) if row.state == "suppressed" and row.case_id == others[0].id]
    assert len(capped) == 3 and all(row.error.startswith(f"cap: {PER_CASE} automatic messages on this case")
                                    for row in capped)


@pytest.mark.parametrize("batch", [Claims.BATCH, 2], ids=["in-one-batch", "after-some-batches"])
def test_a_pass_asked_to_stop_in_a_batch_releases_the_rest_and_the_next_sends_them_once(
        office: Hub, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(Claims, "BATCH", batch)
    people = 4  # an acknowledgement and a notice each: one batch of 50, or four of 2
    for n in range(people):
        feed(office, email(sender=f"p{n}@example.com", subject=f"Problem {n}"))
    assert deliver_due(office, should_stop=lambda: len(smtp.messages) >= 3).counts == {"sent": 3}
    rows = outbox(office)
    assert Counter(row.state for row in rows) == {"sent": 3, "pending": 2 * people - 3}
    assert all(row.lease_until is None and row.lease_owner is None for row in rows if row.state == "pending")

    assert deliver_due(office).counts == {"sent": 2 * people - 3}
    rows = outbox(office)
    assert {row.state for row in rows} == {"sent"}
    copies = smtp.by_message_id()
    assert sorted(copies) == sorted(row.message_id for row in rows)
    assert {len(found) for found in copies.values()} == {1}


def test_a_batch_is_claimed_by_one_statement_and_committed_once_before_its_sends(
        office: Hub, smtp: SmtpServer) -> None:
    people = 25
    for n in range(people):
        feed(office, email(sender=f"p{n}@example.com", subject=f"Problem {n}"))
    due = len(outbox(office))
    claims, commits = 0, 0

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal claims
        if statement.startswith("UPDATE outbox SET state=") and "RETURNING" in statement:
            claims += 1

    def commit(_connection: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(office.engine, "before_cursor_execute", count)
    event.listen(office.engine, "commit", commit)
    try:
        report = deliver_due(office)
    finally:
        event.remove(office.engine, "before_cursor_execute", count)
        event.remove(office.engine, "commit", commit)
    assert report.counts == {"sent": due}
    sent = due
    batches = math.ceil(due / Claims.BATCH)
    assert claims == batches
    # A batch commits once; the records and the pass's own work a few more (measured at 4). Each letter's mark
    # commits alone on its own DBAPI connection (hub.delivery.sent_record), which these events do not see; a
    # transaction a letter, as before the batches, made 54 here.
    assert commits <= batches + 5, (commits, sent, batches)
    assert len(smtp.messages) == sent


def test_a_batch_slowed_to_half_its_lease_releases_the_rest(office: Hub, smtp: SmtpServer) -> None:
    for n in range(3):  # six letters: one batch
        feed(office, email(sender=f"p{n}@example.com", subject=f"Problem {n}"))
    clock = clock_of(office)
    smtp.on_data(lambda _message: clock.advance(LEASE / 4))  # each send takes a quarter of the lease
    assert deliver_due(office).counts == {"sent": 2}
    rows = outbox(office)
    assert Counter(row.state for row in rows) == {"sent": 2, "pending": 4}
    assert all(row.lease_until is None and row.lease_owner is None for row in rows if row.state == "pending")
    while deliver_due(office).counts:
        pass
    rows = outbox(office)
    assert {row.state for row in rows} == {"sent"}
    assert sorted(m.message_id for m in smtp.messages) == sorted(row.message_id for row in rows), "each once"


# --- several batches in one pass ----------------------------------------------------------------------


def test_the_caps_count_the_letters_of_the_batches_before_in_the_same_pass(
        office: Hub, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Claims, "BATCH", 2)
    cases_ = cases(office, PER_ADDRESS + 2)
    for case in cases_:  # one address: its letters over three batches
        queue(office, case, HELPER)
    assert deliver_due(office).counts == {"sent": PER_ADDRESS, "suppressed": 2}
    assert len(smtp.sent_to(HELPER)) == PER_ADDRESS

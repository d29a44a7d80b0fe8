"""A batch filed as one transaction: on PostgreSQL without a savepoint a message while nothing fails, and when a
message fails, the batch filed again with a savepoint a message, so that the failing message alone is held in
quarantine and the others are filed once (hub.intake.pipeline.Batch, hub.intake.drain)."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event, func, select

from hub.core.app import Hub
from hub.core.models import Case, Event, Message, Outbox, QuarantineItem
from hub.intake.drain import drain
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake
from tests.helpers import email
from tests.integration.test_intake_statements import ListSource
from tests.integration.test_privacy import refuse

REFUSED = "refused.sender@example.net"


def senders(count: int) -> list[bytes]:
    return [email(sender=f"Person {n} <person{n}@example.org>", subject=f"Housing repair {n}",
                  body=f"The landlord has not fixed the heating at flat {n}.") for n in range(count)]


def savepoints(hub: Hub, raws: list[bytes]) -> tuple[Counter[str], ListSource, Counter[str]]:
    """Drain `raws` as one batch; the fates, the source, and the statements that set or rolled back a savepoint."""
    seen: Counter[str] = Counter()

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "SAVEPOINT intake_message" in statement:
            seen[statement.split()[0].upper()] += 1

    source = ListSource(raws)
    event.listen(hub.engine, "before_cursor_execute", count)
    try:
        summary = drain(Intake.of(hub), source, parse_email)
    finally:
        event.remove(hub.engine, "before_cursor_execute", count)
    return summary.fates, source, seen


def test_a_batch_where_nothing_fails_sets_no_savepoint_on_postgresql(hub: Hub) -> None:
    fates, source, seen = savepoints(hub, senders(5))
    assert fates == Counter({"new-case": 5}) and len(source.acknowledged) == 5
    assert not seen  # SQLite: a transaction a message; PostgreSQL: the batch's transaction alone


def test_a_failing_message_is_held_alone_and_the_rest_of_its_batch_filed_once(hub: Hub) -> None:
    refuse(hub.engine, "messages", "sender", REFUSED)
    raws = senders(4)
    raws.insert(2, email(sender=f"Refused <{REFUSED}>", subject="Benefits", body="My payments stopped."))
    fates, source, seen = savepoints(hub, raws)

    assert fates == Counter({"new-case": 4, "quarantine": 1})
    assert sorted(source.acknowledged) == [0, 1, 2, 3, 4]  # quarantined ones are acknowledged too (moved)
    with hub.sessions() as session:
        [item] = session.scalars(select(QuarantineItem)).all()
        assert item.source == "list:2" and item.reason.startswith("processing failed: IntegrityError")
        # Filed once: the rolled-back first attempt left no message, case, event or case number behind.
        assert session.scalar(select(func.count()).select_from(Message)) == 4
        assert sorted(session.scalars(select(Message.sender))) == [f"person{n}@example.org" for n in range(4)]
        refs = sorted(session.scalars(select(Case.ref)))
        assert len(refs) == 4 and len(set(refs)) == 4
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "case-opened")) == 4
    if hub.engine.dialect.name == "postgresql":
        # The careful second pass: a savepoint for each message, the failed one rolled back to its own.
        assert seen["ROLLBACK"] == 1 and seen["SAVEPOINT"] + seen["RELEASE"] == 5


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_message_waits_for_another_writer_instead_of_failing_at_once(hub: Hub) -> None:
    # SQLite has one writer at a time; the others wait for it, up to the busy timeout. But a transaction that has
    # read first cannot wait: asked for the lock, SQLite answers "database is locked" at once. Quarantine reads
    # (is this content held already?) in a savepoint before it writes, so a message held while the IMAP source
    # saved its position stopped the whole run. A savepoint that starts a transaction now takes the lock first.
    holder = sqlite3.connect(str(hub.engine.url.database), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, holder.commit)
    release.start()
    try:
        fates, source, _ = savepoints(hub, [b"", *senders(1)])
    finally:
        release.join()
        holder.close()
    assert fates == Counter({"quarantine": 1, "new-case": 1}) and sorted(source.acknowledged) == [0, 1]


@pytest.mark.parametrize(("table", "column"), [("messages", "sender"), ("events", "actor"), ("outbox", "recipient")])
@pytest.mark.parametrize("position", [2, 4])
def test_a_message_whose_unread_rows_fail_is_held_alone_with_none_of_its_rows(hub: Hub, table: str, column: str,
                                                                              position: int) -> None:
    # The message's own row, its events or its acknowledgement are refused: rows whose result nobody reads, sent
    # without a wait in a pipelined batch on PostgreSQL (the message's id taken beforehand). Their error comes
    # later there (with the next message's statements, or at the commit), so it must not be taken for another
    # message's, nor lose the batch.
    refuse(hub.engine, table, column, REFUSED)
    raws = senders(4)
    raws.insert(position, email(sender=f"Refused <{REFUSED}>", subject="Benefits", body="My payments stopped."))
    fates, source, _ = savepoints(hub, raws)

    assert fates == Counter({"new-case": 4, "quarantine": 1})
    assert sorted(source.acknowledged) == [0, 1, 2, 3, 4]
    people = [f"person{n}@example.org" for n in range(4)]
    with hub.sessions() as session:
        [item] = session.scalars(select(QuarantineItem)).all()
        assert item.source == f"list:{position}" and item.reason.startswith("processing failed: IntegrityError")
        # Nothing of the held message is left: its message, case, events and letters went with its rollback.
        assert sorted(session.scalars(select(Message.sender))) == people
        assert session.scalar(select(func.count()).select_from(Case)) == 4
        assert REFUSED not in {*session.scalars(select(Event.actor)), *session.scalars(select(Outbox.recipient)),
                               *session.scalars(select(Outbox.about))}
        # The others keep theirs: each its case-opened event and its acknowledgement.
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "case-opened")) == 4
        assert sorted(session.scalars(select(Outbox.recipient).where(Outbox.recipient.in_(people)))) == people

"""What a batch of ordinary mail costs the database: on PostgreSQL one transaction for the batch, and a bounded
number of statements a message. There every statement is a round trip, so these counts set intake's rate
(bench/ingest.py measures it); a change that adds a statement to every message shows here. SQLite keeps a
transaction a message (hub.intake.pipeline.Batch says why)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator
from typing import Any

from sqlalchemy import Connection, distinct, event, func, select

from hub.cases import due_dates
from hub.core.app import Hub
from hub.core.db_pipeline import WRITE_ONLY, is_pipelined
from hub.core.models import Case, Reminder
from hub.intake.drain import Item, drain
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake
from tests.helpers import tally
from tests.mailgen import office_mailbox

MESSAGES = 200
BATCH = 100
# Measured at 7.03 a message on PostgreSQL (with a transaction a message it was 11.3, and BEGIN and COMMIT
# are round trips too; with a savepoint a message 9.45; the case's touch apart from its events 8.5; the new
# case's sender found and made in two statements, its number taken in a third, its reminders apart from the
# message, 7.97) and 8.5 on SQLite, over mailgen's first 200; 6.2 on PostgreSQL with the caseworker notices' fold
# known for the batch's senders at once (hub.letters.notice_digest.Caps) and each notice threaded by its insert, 5.7
# with the cases of the batch's references read in one statement up front (hub.intake.known_facts).
MOST_A_MESSAGE = {"postgresql": 5.9, "sqlite": 9.0}
# Of those, the statements the hub waits for: each a round trip on PostgreSQL. In a pipelined batch
# (hub.core.db_pipeline) a message's events, letters, attachments and file cuts are sent with the next statement
# that waits, and so is its own insert, its row id taken beforehand with the batch's. Measured at 7.03 before the
# pipeline, 4.59 with it, 3.66 with the message's insert in it (7.04 statements: the ids are one more a batch),
# 3.35 with a new case's insert in it too (7.07 statements: its id is taken beforehand, 16 at a time), 2.48 with the
# notices' fold known for the batch (two statements a batch instead of one a notice), 2.28 with an attachment's file
# stored without a wait (hub.core.file_store.keep_file), 2.08 with what the sender is to a reference's case asked
# with the case (hub.intake.thread), 1.79 with the cases of the batch's references read up front and read again,
# all those forgotten at once, only after a message changed one (hub.intake.known_facts), 1.70 (5.7 statements) with
# a reminder's cancel and insert sent without a wait (hub.cases.reminders).
MOST_WAITS_A_MESSAGE = {"postgresql": 1.75, "sqlite": 9.0}


class ListSource:
    name = "list"

    def __init__(self, raws: list[bytes]) -> None:
        self.raws = raws
        self.acknowledged: list[Hashable] = []

    def batches(self) -> Iterator[list[Item]]:
        for start in range(0, len(self.raws), BATCH):
            yield [Item(start + n, raw, f"list:{start + n}") for n, raw in enumerate(self.raws[start:start + BATCH])]

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        self.acknowledged += [*done, *quarantined]


def test_a_batch_is_one_transaction_with_few_statements_a_message(hub: Hub) -> None:
    raws = [generated.raw for generated in office_mailbox(MESSAGES, Intake.of(hub).refs, 26)]
    statements: Counter[str] = Counter()
    commits = 0

    def count(connection: Connection, _cursor: Any, statement: str, _parameters: Any, context: Any,
              _many: bool) -> None:
        statements[statement.split()[0].upper()] += 1
        if context.execution_options.get(WRITE_ONLY) and is_pipelined(connection):
            statements["(sent without a wait)"] += 1

    def commit(_connection: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(hub.engine, "before_cursor_execute", count)
    event.listen(hub.engine, "commit", commit)
    source = ListSource(raws)
    try:
        summary = drain(Intake.of(hub), source, parse_email)
    finally:
        event.remove(hub.engine, "before_cursor_execute", count)
        event.remove(hub.engine, "commit", commit)

    assert summary.total == MESSAGES and len(source.acknowledged) == MESSAGES
    counts = tally(hub)
    assert counts.messages + counts.quarantine + summary.fates["duplicate"] == MESSAGES
    if hub.engine.dialect.name == "postgresql":  # the batch's commit and the one that makes it durable
        assert commits <= 2 * (MESSAGES // BATCH)
    with hub.engine.connect() as connection:  # each new case has its first reminders, however they were written
        kinds = connection.execute(select(Case.id, func.count(distinct(Reminder.kind)))
                                   .outerjoin(Reminder, (Reminder.case_id == Case.id)
                                              & Reminder.kind.in_((due_dates.CHECKIN, due_dates.NUDGE)))
                                   .group_by(Case.id)).all()
    assert len(kinds) == summary.fates["new-case"] and all(count == 2 for _, count in kinds), kinds
    unwaited = statements.pop("(sent without a wait)", 0)
    total = sum(statements.values())
    assert total <= MOST_A_MESSAGE[hub.engine.dialect.name] * MESSAGES, (total / MESSAGES, statements.most_common())
    waits = total - unwaited
    assert waits <= MOST_WAITS_A_MESSAGE[hub.engine.dialect.name] * MESSAGES, (waits / MESSAGES, total / MESSAGES)


"""A case's thread root is found by the index on its case's letters, on a new PostgreSQL database too.

A new office's tables have no statistics until autovacuum first analyzes them (a minute or more), and a statement
run often is planned once for any parameter (a generic plan). Without statistics every index looks as selective
as any other, so an index on one condition of the lookup (`folded_into IS NULL`) was taken instead of the one by
case: a scan of every notice not folded, once for each new notice, growing with the outbox through an office's
first import. Here the outbox is filled without an ANALYZE, and the lookup planned generically.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from psycopg import sql as sql_text
from sqlalchemy import Connection, insert, select

from hub.core.app import Hub
from hub.core.models import Case, Outbox, Party
from hub.letters.notice_thread import ROOT_OF_CASE
from hub.letters.templates import TO_STAFF

pytestmark = pytest.mark.integration
CASES = 300
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def fill(connection: Connection) -> None:
    party = connection.execute(insert(Party).values(role="constituent", name="Pat", email="pat@example.org",
                                                    created_at=NOW).returning(Party.id)).scalar_one()
    connection.execute(insert(Case), [dict(ref=f"R{n}", status="open", labels=[], subject="s", constituent_id=party,
                                           opened_at=NOW, updated_at=NOW, contact_channel="email")
                                      for n in range(CASES)])
    case_ids = list(connection.execute(select(Case.id)).scalars())
    connection.execute(insert(Outbox), [dict(case_id=case_id, channel="email", letter=letter, recipient="a@example.org",
                                             message_id=f"<{case_id}.{letter}@hub>", context={}, state="pending",
                                             attempts=0, not_before=NOW, created_at=NOW)
                                        for case_id in case_ids for letter in (*TO_STAFF[:2], "acknowledgement")])


def generic_plan(connection: Connection, case_id: int) -> str:
    """EXPLAIN of the root lookup as a prepared statement planned for any case (`$n` for each parameter)."""
    expanded = select(ROOT_OF_CASE).compile(dialect=connection.dialect).construct_expanded_state({"case_id": case_id})
    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"
    sql = re.sub(r"%\((\w+)\)s", numbered, expanded.statement)
    values = expanded.parameters
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    cursor.execute("SET plan_cache_mode = force_generic_plan")
    cursor.execute(f"PREPARE root_lookup AS {sql}")
    cursor.execute(sql_text.SQL("EXPLAIN EXECUTE root_lookup({})").format(
        sql_text.SQL(", ").join(sql_text.Literal(values[name]) for name in names)))
    return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # generic plans, statistics: PostgreSQL's
def test_the_root_lookup_reads_the_index_by_case_without_statistics(hub: Hub) -> None:
    with hub.engine.begin() as connection:
        fill(connection)
        assert connection.exec_driver_sql("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                                          "WHERE relname = 'outbox'").one() == (None, None)
        case_id = connection.execute(select(Case.id).limit(1)).scalar_one()
        plan = generic_plan(connection, case_id)
    assert "ix_outbox_case_letter" in plan, plan
    assert "ix_outbox_folded_into" not in plan, plan

"""A constant IN list written into the SQL (hub.core.db.one_of): the same rows as an IN of parameters, and no
parameter for SQLAlchemy to rewrite on each execution."""

from __future__ import annotations

from sqlalchemy import column, create_engine, select, table, text
from sqlalchemy.dialects import postgresql

from hub.core.db import one_of
from hub.letters.notice_thread import QUEUE_THREADED

_LETTERS = table("letters", column("name"))


def test_one_of_finds_the_names_listed_even_with_a_quote_in_one() -> None:
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE letters (name TEXT)"))
            connection.execute(text("INSERT INTO letters VALUES ('a'), ('o''brien'), ('c'), ('x'' OR ''1''=''1')"))
            found = connection.execute(select(_LETTERS.c.name).where(one_of(_LETTERS.c.name, ("a", "o'brien"))))
            assert sorted(found.scalars()) == ["a", "o'brien"]
    finally:
        engine.dispose()


def test_the_staff_notice_insert_has_no_parameter_rewritten_on_each_execution() -> None:
    compiled = QUEUE_THREADED.compile(dialect=postgresql.psycopg.dialect())
    assert "'caseworker-notification'" in str(compiled)
    assert not compiled.literal_execute_params and not compiled.post_compile_params

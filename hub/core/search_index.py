"""The full-text index `hub search` reads: what goes into it, kept current by the database itself.

Every text a caseworker may look for has one row in `search_index`, whose rowid says where the text lives:
`id * 8 + slot`, the slot one of `SLOTS` (a message's subject and body, a note, a party's name, address or
phone number, a case's agency control number). Triggers on those tables write the row whenever one is
inserted, changed or deleted, so intake's bulk inserts, a command's note and anything written later are
found without each writer remembering to index. SQLite keeps the words in an FTS5 table without a copy of
the text (`content=''`); PostgreSQL keeps a `tsvector` with a GIN index. Both see the same words: runs of
letters and digits, lower-cased, so a query made by `query_words` matches alike on both.

A phone number is indexed as its digits, and without the country code 1 as well, so `(919) 555-0142`,
`919.555.0142` and `+19195550142` all find it.

A later migration that rebuilds one of these tables on SQLite (batch mode's copy and rename) drops its
triggers with it: it must call `uninstall` before and `install` after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection

SLOT_BITS = 8
# What a hit is, by the rowid's slot; the names are the `match` of `hub search --json`.
SLOTS = {0: "message", 1: "note", 2: "name", 3: "email", 4: "phone", 5: "agency-control"}
# A tsvector holds at most 1 MB; a body longer than this is indexed by its beginning.
PG_TEXT_CAP = 200_000
_WORD = re.compile(r"[^\W_]+")
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]+$")


@dataclass(frozen=True)
class Source:
    """One kind of indexed text: its table, slot, the text as an SQL expression over a row (`{row}` stands
    for NEW or OLD), and which rows of the table carry it."""

    name: str
    table: str
    slot: int
    columns: tuple[str, ...]  # an UPDATE of these re-indexes the row
    words: str
    where: str = ""


def _digits(column: str) -> str:
    inner = f"coalesce({{row}}.{column}, '')"
    for mark in ("+", " ", "-", "(", ")", "."):
        inner = f"replace({inner}, '{mark}', '')"
    return inner


_PHONE = _digits("phone")
SOURCES = (
    Source("message", "messages", 0, ("subject", "body"),
           "coalesce({row}.subject, '') || ' ' || coalesce({row}.body, '')"),
    Source("note", "events", 1, ("detail",), "coalesce({row}.detail, '')", "{row}.kind = 'note'"),
    Source("name", "parties", 2, ("name",), "coalesce({row}.name, '')"),
    Source("email", "parties", 3, ("email",), "coalesce({row}.email, '')"),
    Source("phone", "parties", 4, ("phone",),
           f"{_PHONE} || ' ' || CASE WHEN length({_PHONE}) = 11 AND substr({_PHONE}, 1, 1) = '1' "
           f"THEN substr({_PHONE}, 2) ELSE '' END"),
    Source("control", "cases", 5, ("agency_control",), "coalesce({row}.agency_control, '')"),
)


def query_words(text: str) -> list[list[str]]:
    """The phrases a query asks for, each a list of words that must stand together in this order (an
    address, a number with dashes); every phrase must match. Empty when the text has no letter or digit."""
    return [words for chunk in text.lower().split() if (words := _WORD.findall(chunk))]


def phone_digits(text: str) -> str | None:
    """The word a phone number is indexed by, when the query is one however typed: its digits, without the
    country code 1."""
    if not _PHONE_LIKE.match(text.strip()) or not 7 <= len(digits := re.sub(r"\D", "", text)) <= 15:
        return None
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def install(connection: Connection) -> None:
    """Create the index and its triggers, and index every existing row (a migration's step)."""
    if connection.dialect.name == "postgresql":
        _install_postgresql(connection)
    else:
        _install_sqlite(connection)
    for source in SOURCES:
        rowid = f"{{row}}.id * {SLOT_BITS} + {source.slot}".format(row=source.table)
        words = _words(connection, source, source.table)
        where = f" WHERE {source.where.format(row=source.table)}" if source.where else ""
        connection.exec_driver_sql(f"INSERT INTO search_index (rowid, words) "
                                   f"SELECT {rowid}, {words} FROM {source.table}{where}")


def uninstall(connection: Connection) -> None:
    """Drop the index, its triggers and functions (a migration's downgrade)."""
    postgresql = connection.dialect.name == "postgresql"
    for source in SOURCES:
        if postgresql:
            connection.exec_driver_sql(f"DROP TRIGGER search_{source.name}_change ON {source.table}")
            connection.exec_driver_sql(f"DROP FUNCTION search_index_{source.name}()")
        else:
            for event in ("insert", "delete", "change"):
                connection.exec_driver_sql(f"DROP TRIGGER search_{source.name}_{event}")
    if postgresql:
        connection.exec_driver_sql("DROP FUNCTION search_words(text)")
    connection.exec_driver_sql("DROP TABLE search_index")


def _words(connection: Connection, source: Source, row: str) -> str:
    text = source.words.format(row=row)
    return f"search_words({text})" if connection.dialect.name == "postgresql" else text


def _install_sqlite(connection: Connection) -> None:
    # remove_diacritics 0: PostgreSQL's `simple` configuration keeps accents too, so both match alike.
    connection.exec_driver_sql("CREATE VIRTUAL TABLE search_index USING fts5(words, content='', "
                               "tokenize='unicode61 remove_diacritics 0')")
    for source in SOURCES:
        new = f"new.id * {SLOT_BITS} + {source.slot}, {source.words.format(row='new')}"
        # A table without its own copy of the text forgets a row by being told the words it had.
        old = f"'delete', old.id * {SLOT_BITS} + {source.slot}, {source.words.format(row='old')}"
        add = f"INSERT INTO search_index (rowid, words) VALUES ({new});"
        forget = f"INSERT INTO search_index (search_index, rowid, words) VALUES ({old});"
        when_new = f" WHEN {source.where.format(row='new')}" if source.where else ""
        when_old = f" WHEN {source.where.format(row='old')}" if source.where else ""
        connection.exec_driver_sql(f"CREATE TRIGGER search_{source.name}_insert AFTER INSERT ON {source.table}"
                                   f"{when_new} BEGIN {add} END")
        connection.exec_driver_sql(f"CREATE TRIGGER search_{source.name}_delete AFTER DELETE ON {source.table}"
                                   f"{when_old} BEGIN {forget} END")
        connection.exec_driver_sql(f"CREATE TRIGGER search_{source.name}_change AFTER UPDATE OF "
                                   f"{', '.join(source.columns)} ON {source.table}{when_old} BEGIN {forget} {add} END")


def _install_postgresql(connection: Connection) -> None:
    connection.exec_driver_sql("CREATE TABLE search_index (rowid bigint PRIMARY KEY, words tsvector NOT NULL)")
    connection.exec_driver_sql("CREATE INDEX ix_search_index_words ON search_index USING gin (words)")
    # Words are runs of letters and digits, as SQLite's unicode61 tokenizer sees them: the `simple`
    # parser alone would keep `maria@example.com` or `3.5` whole.
    connection.exec_driver_sql(
        "CREATE FUNCTION search_words(text) RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$ "
        f"SELECT to_tsvector('simple', regexp_replace(left($1, {PG_TEXT_CAP}), '[^[:alnum:]]+', ' ', 'g')) $$")
    for source in SOURCES:
        rowid = f"{{row}}.id * {SLOT_BITS} + {source.slot}"
        old_carries = source.where.format(row="OLD") if source.where else "true"
        new_carries = source.where.format(row="NEW") if source.where else "true"
        connection.exec_driver_sql(
            f"CREATE FUNCTION search_index_{source.name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' AND {old_carries} THEN "
            f"DELETE FROM search_index WHERE rowid = {rowid.format(row='OLD')}; END IF; "
            f"IF TG_OP <> 'DELETE' AND {new_carries} THEN INSERT INTO search_index (rowid, words) VALUES "
            f"({rowid.format(row='NEW')}, {_words(connection, source, 'NEW')}); END IF; "
            "RETURN NULL; END $$")
        connection.exec_driver_sql(
            f"CREATE TRIGGER search_{source.name}_change AFTER INSERT OR DELETE OR UPDATE OF "
            f"{', '.join(source.columns)} ON {source.table} FOR EACH ROW EXECUTE FUNCTION search_index_{source.name}()")

"""A letter's sent mark sent to PostgreSQL without waiting for its answer; settled before the next letter's DATA.

The mark's round trip (a quarter of a millisecond on loopback) was on every letter's path. Sent through libpq's
asynchronous command processing, it travels while the next letter is composed and its MAIL FROM and RCPT TO are
answered, and `settle` waits for what is left of it just before that letter's DATA. No second letter reaches the
server before the first is marked, so a crash still leaves at most one of a pass's letters accepted and not marked
(hub.delivery.claims: only the first of a pass's rows whose lease ran out is in doubt), and that letter's line in
the sent journal (hub.delivery.sent_journal) was written before its mark went.

The statement and its values go as text, as psycopg's own text parameters would; the connection is the pass's
mark connection (hub.delivery.sent_record.SentMarks, autocommit) and nothing else uses it meanwhile.
"""

from __future__ import annotations

import functools
import select
from datetime import datetime
from typing import Any

from sqlalchemy.sql.dml import Update


class MarkFailed(Exception):
    """The mark sent ahead did not commit (the database refused it, or the connection was lost): its letter went
    and is left to its line in the sent journal; the letter whose send settled it has not gone."""


class MarkAhead:
    """The marks of one psycopg connection: `send` one, `settle` it before anything else may use the
    connection or the server accept another letter."""

    def __init__(self, driver_connection: Any, statement: Update) -> None:
        import psycopg  # made only for a psycopg connection: an office on SQLite needs no PostgreSQL driver

        assert isinstance(driver_connection, psycopg.Connection)
        self._pgconn = driver_connection.pgconn
        self._committed = psycopg.pq.ExecStatus.COMMAND_OK
        self._failures: tuple[type[BaseException], ...] = (psycopg.Error, OSError)
        self._form = _numbered(statement)

    def send(self, values: dict[str, Any]) -> None:
        """The mark with `values` (those the statement does not fix itself) on its way; its answer not awaited."""
        sql, order, constants = self._form
        given = {**constants, **values}
        pgconn = self._pgconn
        pgconn.send_query_params(sql, [_text(given[name]) for name in order])
        while pgconn.flush():  # 1 while part of it still waits for room in the socket
            select.select([], [pgconn.socket], [])

    def settle(self) -> None:
        """Wait for the mark's answer (the caller knows one is on its way): committed, or MarkFailed."""
        pgconn = self._pgconn
        failure = None
        try:
            pgconn.consume_input()
            while pgconn.is_busy():
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
            while (result := pgconn.get_result()) is not None:
                if result.status != self._committed and failure is None:
                    failure = result.error_message.decode("utf-8", "replace").strip()
        except self._failures as error:
            raise MarkFailed(f"the sent mark failed: {error}") from error
        if failure is not None:
            raise MarkFailed(f"the sent mark failed: {failure}")


@functools.cache
def _numbered(statement: Update) -> tuple[bytes, tuple[str, ...], dict[str, Any]]:
    """The statement as libpq takes it ($1, $2, ...), its parameters' names in order, and its fixed values."""
    from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

    compiled = statement.compile(dialect=psycopg_dialect.dialect(paramstyle="numeric_dollar"))
    given = {name: None for name, bind in compiled.binds.items() if bind.required}  # each mark's own
    return str(compiled).encode(), tuple(compiled.positiontup or ()), dict(compiled.construct_params(given))


def _text(value: object) -> bytes | None:
    """A parameter's value in PostgreSQL's text form."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, datetime):
        return value.isoformat().encode("ascii")
    return str(value).encode("utf-8")

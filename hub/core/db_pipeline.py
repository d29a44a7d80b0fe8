"""PostgreSQL's pipeline mode on a connection: a statement whose result nobody reads is sent with the next one
that is read, instead of waiting for a round trip of its own.

In pipeline mode psycopg sends a statement without waiting for its result. SQLAlchemy, though, looks at each
statement's result (`cursor.description`) as soon as it has sent it, and in pipeline mode it is not there yet.
So every statement is followed by a sync (send what is queued, wait for all of its results) except those marked
`write_only`: an INSERT without RETURNING (built with `.inline()`, or SQLAlchemy adds RETURNING for the primary
key), an UPDATE whose row count nobody looks at.

The error of a statement sent without waiting is raised at the next sync: by a later statement (perhaps one of
the next message's), or by `close`. The caller treats it as the whole pipeline's (hub.intake.pipeline.Batch
rolls the batch back and files it again, a savepoint a message).

A statement larger than the socket's buffers (a message at the size limit) is only partly sent when psycopg
hands it over, and psycopg's sync waits for results without sending the rest: the server waits for the rest of
the statement and the client for its result, for ever. So after every statement the connection's output is sent
in full first, as libpq's documentation says for a non-blocking connection: flush, and while data remains wait
until the socket can be written (or read: then take in what the server sent, which it may be blocked on).
"""

from __future__ import annotations

import selectors
from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.sql.base import Executable

WRITE_ONLY = "hub_write_only"
_Statement = TypeVar("_Statement", bound=Executable)


def write_only(statement: _Statement) -> _Statement:
    """The statement marked as one whose result is never read: in a `Pipeline` it is sent without a wait."""
    return statement.execution_options(**{WRITE_ONLY: True})


def is_pipelined(connection: Connection) -> bool:
    """Whether the connection is in a `Pipeline` now (a write-only statement is sent without a wait)."""
    return bool(getattr(getattr(connection.connection.driver_connection, "pgconn", None), "pipeline_status", 0))


class Pipeline:
    """The connection in pipeline mode until `close` (PostgreSQL with psycopg only; the transaction begun)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        driver = connection.connection.driver_connection
        self._pgconn = driver.pgconn  # type: ignore[union-attr]
        self._mode = driver.pipeline()  # type: ignore[union-attr]
        self._pipeline = self._mode.__enter__()
        event.listen(connection, "after_cursor_execute", self._wait_unless_write_only)

    def _wait_unless_write_only(self, _connection: Connection, _cursor: Any, _statement: str, _parameters: Any,
                                context: Any, _many: bool) -> None:
        self._send_all()
        if not context.execution_options.get(WRITE_ONLY):
            self._pipeline.sync()

    def _send_all(self) -> None:
        """Send what libpq still holds of the statements queued (nothing, unless one was large)."""
        if self._pgconn.flush() == 0:
            return
        with selectors.DefaultSelector() as selector:
            selector.register(self._pgconn.socket, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while self._pgconn.flush() != 0:
                for _key, events in selector.select():
                    if events & selectors.EVENT_READ:
                        self._pgconn.consume_input()

    def close(self) -> None:
        """Send what is queued and leave pipeline mode; raises the first error among the queued statements."""
        event.remove(self._connection, "after_cursor_execute", self._wait_unless_write_only)
        self._mode.__exit__(None, None, None)

    def abandon(self) -> None:
        """Leave pipeline mode when the transaction is to be rolled back anyway: a queued statement's error is
        of no more interest."""
        try:
            self.close()
        except Exception:  # the caller rolls back everything the pipeline sent
            pass

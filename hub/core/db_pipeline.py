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
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.sql.base import Executable

WRITE_ONLY = "hub_write_only"
_Statement = TypeVar("_Statement", bound=Executable)


def write_only(statement: _Statement) -> _Statement:
    """The statement marked as one whose result is never read: in a `Pipeline` it is sent without a wait."""
    return statement.execution_options(**{WRITE_ONLY: True})


class Pipeline:
    """The connection in pipeline mode until `close` (PostgreSQL with psycopg only; the transaction begun)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._mode = connection.connection.driver_connection.pipeline()  # type: ignore[union-attr]
        self._pipeline = self._mode.__enter__()
        event.listen(connection, "after_cursor_execute", self._wait_unless_write_only)

    def _wait_unless_write_only(self, _connection: Connection, _cursor: Any, _statement: str, _parameters: Any,
                                context: Any, _many: bool) -> None:
        if not context.execution_options.get(WRITE_ONLY):
            self._pipeline.sync()

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

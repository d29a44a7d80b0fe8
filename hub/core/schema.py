"""`hub db status` and `hub db upgrade`: where the database's schema stands, and the one explicit upgrade.

An upgrade holds a lock for its whole length, so that two `hub db upgrade` started at once never race:
on PostgreSQL a session advisory lock (pg_advisory_lock) on a connection of its own; on SQLite an
exclusive flock on the folder that holds the database file (not on the file: closing a descriptor of
the database would drop the POSIX locks SQLite holds on it in this process, and a lock file would be
left behind). The second one waits, then finds the database at HEAD and does nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, make_url, text

from hub.core.db import connected_revision, known_revisions, migrate, mismatch
from hub.core.errors import SchemaError
from hub.core.migrations import HEAD

# The advisory lock's key: any fixed number; this one is "hubschem" in ASCII.
UPGRADE_LOCK = 0x68756273_6368656D
State = Literal["up-to-date", "behind", "ahead", "empty"]


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str
    state: State
    waiting: list[str]  # the revisions an upgrade would apply, oldest first

    def line(self) -> str:
        if self.state == "up-to-date":
            return f"schema {self.current}: up to date"
        if self.state == "empty":
            return f"no hub tables yet: run `hub db upgrade` to create them (schema {self.head})"
        if self.state == "ahead":
            return f"schema {self.current}: newer than this hub ({self.head}); install the newer casework-hub again"
        count = len(self.waiting)
        return (f"schema {self.current}, this hub needs {self.head}: {count} upgrade{'' if count == 1 else 's'} "
                "waiting: run `hub db upgrade` (after a backup: `hub backup PATH`)")

    def as_json(self) -> dict[str, object]:
        return {"current": self.current, "head": self.head, "state": self.state, "waiting": self.waiting}


def schema_status(engine: Engine, url: str) -> SchemaStatus:
    current = connected_revision(engine, url)
    if current == HEAD:
        return SchemaStatus(current, HEAD, "up-to-date", [])
    known = known_revisions(engine)
    if current is not None and current not in known:
        return SchemaStatus(current, HEAD, "ahead", [])
    newer = known if current is None else known[:known.index(current)]
    return SchemaStatus(current, HEAD, "empty" if current is None else "behind", list(reversed(newer)))


def upgrade(engine: Engine, url: str) -> tuple[str | None, str]:
    """Bring the schema to HEAD under the upgrade lock; (the revision before, HEAD). A database newer than
    this hub is refused."""
    with upgrade_lock(engine):
        before = connected_revision(engine, url)
        if before != HEAD:
            if before is not None and before not in known_revisions(engine):
                raise SchemaError(mismatch(engine, before))
            migrate(engine)
    return before, HEAD


@contextmanager
def upgrade_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": UPGRADE_LOCK})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK})
        return
    database = make_url(str(engine.url)).database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    descriptor = os.open(os.path.dirname(os.path.abspath(database)), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # and with it the lock

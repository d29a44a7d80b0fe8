"""Named leases in the database: one holder at a time for a named piece of work ("inbox:imap:…": reading
one mailbox), until an expiry the holder pushes forward as it works, so that another process takes the work
over when the holder dies.

`claim` takes a lease that is free, expired or already ours and sets its expiry `term` ahead, in one
conditional UPDATE, or an INSERT that does nothing when the row exists: on PostgreSQL a second UPDATE waits
for the first one's row lock and checks its condition again against the row the first one wrote; SQLite
runs writes one at a time. Two processes never both hold a lease. Times are the database server's clock on
PostgreSQL (processes on several hosts then compare one clock) and the local clock on SQLite (one host).
`release` gives a lease up at once (a clean stop); `holder_of` and `leases` say who holds what, for
`hub status`. hub.run.lease_keeper keeps a lease renewed from a thread.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from hub.core.models import Lease


@dataclass(frozen=True)
class Holder:
    """A process that holds leases: a random id, and where it runs (for `hub status`)."""

    id: str = field(default_factory=lambda: secrets.token_hex(8))
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class Holding:
    """Who holds a lease, as `hub status` shows it."""

    name: str
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime
    live: bool  # False: it expired, and the next claim takes it

    def line(self) -> str:
        state = "held" if self.live else "expired, last held"
        return (f"{state} by {self.host} pid {self.pid} since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC, "
                f"until {self.expires_at:%H:%M:%S} UTC")


def claim(sessions: sessionmaker[Session], name: str, holder: Holder, term: timedelta) -> bool:
    """Take or renew the lease `name` for `holder`, `term` from now; False when another holder has it."""
    with sessions.begin() as session:
        now = _now(session)
        taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Lease).where(Lease.name == name, or_(Lease.holder == holder.id, Lease.expires_at < now))
            .values(acquired_at=case((Lease.holder == holder.id, Lease.acquired_at), else_=_typed(now)),
                    holder=holder.id, host=holder.host[:255], pid=holder.pid, expires_at=now + term))
        if taken.rowcount:
            return True
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        values = {"name": name, "holder": holder.id, "host": holder.host[:255], "pid": holder.pid,
                  "acquired_at": now, "expires_at": now + term}
        # SQLAlchemy keeps an INSERT's row count only when asked; without it PostgreSQL's reads -1.
        made = session.execute(dialect.insert(Lease).values(**values).on_conflict_do_nothing(
            index_elements=["name"]).execution_options(preserve_rowcount=True))
        return bool(made.rowcount)  # type: ignore[attr-defined]


def release(sessions: sessionmaker[Session], name: str, holder: Holder) -> None:
    """Give the lease up, if `holder` still has it: the next claim by anyone takes it."""
    with sessions.begin() as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder.id))


def holder_of(session: Session, name: str) -> Holding | None:
    """Who holds (or last held, when it expired) the lease `name`; None when nobody has it."""
    found = leases(session, name)
    return found[0] if found else None


def leases(session: Session, name: str | None = None) -> list[Holding]:
    """Every lease (or the one named), by name."""
    live = (Lease.expires_at >= _typed(_now(session))).label("live")
    query = select(Lease.name, Lease.holder, Lease.host, Lease.pid, Lease.acquired_at, Lease.expires_at, live)
    if name is not None:
        query = query.where(Lease.name == name)
    return [Holding(*row[:6], live=bool(row[6])) for row in session.execute(query.order_by(Lease.name))]


def _now(session: Session) -> Any:
    """The time leases are judged by: the server's on PostgreSQL (an expression), else this host's."""
    return func.now() if session.get_bind().dialect.name == "postgresql" else datetime.now(UTC)


def _typed(moment: Any) -> ColumnElement[datetime]:
    """`moment` where SQL needs an expression of the column's type (SQLite stores times as text)."""
    return literal(moment, Lease.acquired_at.type) if isinstance(moment, datetime) else moment

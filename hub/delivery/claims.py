"""Claims: which due outbox rows a delivery pass leases, a few letters at a time, so that no two passes send one row.

Due rows are read CANDIDATES at a time and leased by conditional UPDATEs (pending and due, or a lease that ran
out): the condition leaves alone a row another process claimed meanwhile. Plain letters are claimed up to BATCH
together, by one statement, so that their preparation commits once (hub.delivery.deliver); a text, or a letter
in doubt (its lease ran out, or it waits for its Sent folder: hub.delivery.in_doubt), is claimed alone, as it
has its own path. A row is tried once a pass; rows of a batch the pass does not get to are released (`release`);
after a crash they keep their lease until it runs out, and then go without a search of the Sent folder, as only
the first of a pass's leased rows can have reached the server (`_FIRST_OF_ITS_PASS`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, Update, and_, bindparam, exists, false, or_, select, update
from sqlalchemy.orm import Session, aliased

from hub.core.app import Hub
from hub.core.models import Outbox
from hub.delivery.in_doubt import IN_DOUBT

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


class Claimed(NamedTuple):
    row_id: int
    channel: str
    in_doubt: bool  # its last claim ran out, or it waits for its Sent folder


class Claims:
    """The due rows of one pass, leased to it a batch at a time."""

    CANDIDATES = 100
    # A batch's claim, reads and renderings take the same few statements for 10 letters as for 50: at 10 they
    # cost a letter a third of a millisecond more on PostgreSQL. A crash leaves a batch's unsent letters leased:
    # they go when the lease runs out (only the first of them in doubt, `_FIRST_OF_ITS_PASS`), a few
    # minutes late.
    BATCH = 50

    def __init__(self) -> None:
        self.owner = secrets.token_hex(8)
        self.tried: set[int] = set()
        self.waiting: list[tuple[int, str, bool, bool]] = []  # id, channel, lapsed, in doubt

    def next_batch(self, session: Session, now: datetime, texts_only: bool = False) -> list[Claimed]:
        """The next due rows, now leased, in their order: up to BATCH plain letters, or one text or letter in
        doubt; [] when every due row has been tried in this pass."""
        while True:
            if not self.waiting and not self._read(session, now, texts_only):
                return []
            batch: list[tuple[int, str, bool, bool]] = []  # id, channel, lapsed, in doubt
            while self.waiting and len(batch) < self.BATCH:
                row_id, channel, lapsed, in_doubt = self.waiting[0]
                alone = lapsed or in_doubt or channel == "sms"
                if batch and alone:
                    break
                self.waiting.pop(0)
                if row_id in self.tried:
                    continue
                self.tried.add(row_id)  # a letter read before the mail server went down waits for the next pass
                if texts_only and channel != "sms":
                    continue
                batch.append((row_id, channel, lapsed, in_doubt))
                if alone:
                    break
            if batch:
                claimed = set(session.connection().scalars(
                    _CLAIM_LAPSED if batch[0][2] else _CLAIM_PENDING,
                    {"ids": [row_id for row_id, *_ in batch], "now": now, "lease": now + LEASE,
                     "owner": self.owner}))
                if claimed:
                    return [Claimed(row_id, channel, in_doubt)
                            for row_id, channel, _, in_doubt in batch if row_id in claimed]

    def hold(self, hub: Hub, row_id: int, now: datetime) -> None:
        """Lease the row alone, as `next_batch` did in a transaction that failed after the claim."""
        with hub.sessions.begin() as session:
            session.connection().execute(_CLAIM_EITHER, {"ids": [row_id], "now": now, "lease": now + LEASE,
                                                         "owner": self.owner})

    def held_row(self, session: Session, row_id: int) -> Outbox | None:
        """The row, locked, while this pass's lease on it holds (the rows `release` releases); None when it ran out
        and another pass took the row (and may have sent it): a try's fate is then not this pass's to write."""
        row = session.get_one(Outbox, row_id, with_for_update=True)
        if row.state == "sending" and row.lease_owner == self.owner:
            return row
        log.warning("outbox %d: this pass's lease ran out and another pass took the letter; its fate is that "
                    "pass's", row_id)
        return None

    def release(self, hub: Hub, row_ids: Sequence[int], reason: str | None = None) -> None:
        """The claimed rows this pass did not get to wait, untouched but for the `reason` given, for the next pass
        (not in doubt: they were never sent); a row whose lease ran out and another pass took is left to it. One
        that cannot be released keeps its lease and goes in doubt once it runs out."""
        if not row_ids:
            return
        values = {"ids": list(row_ids), "owner": self.owner}
        try:
            with hub.sessions.begin() as session:
                if reason is None:
                    session.connection().execute(_RELEASE, values)
                else:
                    session.connection().execute(_RELEASE_FOR, {**values, "reason": reason[:2000]})
        except Exception:
            log.warning("outbox: %d claimed rows could not be released; they wait for their lease", len(row_ids),
                        exc_info=True)

    def _read(self, session: Session, now: datetime, texts_only: bool) -> bool:
        """The next candidates (texts alone when asked); False when every due one has been tried in this pass."""
        connection = session.connection()
        values = {"now": now, "candidates": self.CANDIDATES}
        lapsed = connection.execute(_CANDIDATES[texts_only, True], values)
        pending = connection.execute(_CANDIDATES[texts_only, False], values)
        self.waiting = [(int(row_id), str(channel), was_lapsed, bool(first) or provider_id == IN_DOUBT)
                        for rows, was_lapsed in ((lapsed, True), (pending, False))
                        for row_id, channel, provider_id, first in rows if row_id not in self.tried]
        return bool(self.waiting)


def _pending(now: Any) -> ColumnElement[bool]:
    return (Outbox.state == "pending") & (Outbox.not_before <= now)


def _lapsed(now: Any) -> ColumnElement[bool]:
    return (Outbox.state == "sending") & (Outbox.lease_until < now)


def _candidates(texts_only: bool, lapsed: bool) -> Select[*tuple[Any, ...]]:
    """The due rows a pass reads next, of one kind (texts alone or any; whose lease ran out, or pending)."""
    due = select(Outbox.id, Outbox.channel, Outbox.provider_id)
    if texts_only:
        due = due.where(Outbox.channel == "sms")
    # Two queries, each an index range in order (ix_outbox_ready; the id only breaks ties): one with OR would
    # sort every waiting row. Rows due at the same moment go in the order they were queued: a caseworker's
    # text before the letter it announces (hub.intake.staff queues it first).
    if lapsed:
        due = due.add_columns(_FIRST_OF_ITS_PASS).where(_lapsed(bindparam("now"))).order_by(Outbox.lease_until,
                                                                                            Outbox.id)
    else:
        due = due.add_columns(false()).where(_pending(bindparam("now"))).order_by(Outbox.not_before, Outbox.id)
    return due.limit(bindparam("candidates"))


_IDS = Outbox.id.in_(bindparam("ids", expanding=True))

# A pass sends its rows one at a time in the order it claimed them (not_before, id), and settles each (its mark,
# its journal's line, its retry) before the next; rows it did not get to it releases, or a crash leaves leased.
# So of one pass's rows whose lease ran out, only the first can have reached the server: the others are not in
# doubt and go again without a search of the Sent folder.
_EARLIER = aliased(Outbox)
_FIRST_OF_ITS_PASS = ~exists().where(
    _EARLIER.lease_owner == Outbox.lease_owner, _EARLIER.state == "sending",
    or_(_EARLIER.not_before < Outbox.not_before,
        and_(_EARLIER.not_before == Outbox.not_before, _EARLIER.id < Outbox.id)))


def _claim(condition: Callable[[Any], ColumnElement[bool]]) -> Update:
    return (update(Outbox).where(_IDS, condition(bindparam("now")))
            .values(state="sending", lease_until=bindparam("lease"), lease_owner=bindparam("owner"))
            .returning(Outbox.id))


_CANDIDATES = {(texts_only, lapsed): _candidates(texts_only, lapsed) for texts_only in (False, True)
               for lapsed in (False, True)}
_CLAIM_PENDING, _CLAIM_LAPSED = _claim(_pending), _claim(_lapsed)
_CLAIM_EITHER = _claim(lambda now: _pending(now) | _lapsed(now))
_RELEASE = (update(Outbox).where(_IDS, Outbox.state == "sending", Outbox.lease_owner == bindparam("owner"))
            .values(state="pending", lease_until=None, lease_owner=None))
_RELEASE_FOR = _RELEASE.values(error=bindparam("reason"))

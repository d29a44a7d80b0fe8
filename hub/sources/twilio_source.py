"""The SMS line as an inbound source: texts received since a watermark, in batches, oldest first.

Twilio's date filter works by whole days, so each poll asks from an hour before the watermark and
skips every text whose Message SID is already stored (its media are not fetched again). The
watermark moves only past texts whose fate has committed, and never past one Twilio is still
receiving (an MMS whose media are arriving), so a crash or a restart in the middle of a large backlog
replays at most what was not yet stored, and the unique SID key keeps even that from being stored twice.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.core.models import Message, SourceCursor
from hub.delivery.twilio import ReceivedText, SmsLine
from hub.intake.drain import Item
from hub.sources.sms_record import SOURCE, sms_record

OVERLAP = timedelta(hours=1)
BATCH = 50
LOOKUP_CHUNK = 500


class TwilioSource:
    def __init__(self, line: SmsLine, sessions: sessionmaker[Session], now: Callable[[], datetime],
                 backlog_days: int, batch_size: int = BATCH) -> None:
        self.line, self.sessions, self.now = line, sessions, now
        self.name = f"sms:{line.sms.number}"
        self.backlog = timedelta(days=backlog_days)
        self.batch_size = batch_size
        self._sent: dict[Hashable, datetime] = {}
        self._hold_before: datetime | None = None

    def batches(self) -> Iterator[list[Item]]:
        watermark = self._watermark()
        texts = self.line.received_since(watermark - OVERLAP if watermark else self.now() - self.backlog)
        stored = self._stored([text.sid for text in texts])
        # A text still arriving is left for the next poll; the watermark must not pass it.
        self._hold_before = min((text.sent for text in texts if not text.ready), default=None)
        fresh = [text for text in texts if text.ready and f"twilio:{text.sid}" not in stored]
        for start in range(0, len(fresh), self.batch_size):
            yield [self._item(text) for text in fresh[start:start + self.batch_size]]
        # Every text listed now has a fate: the newest of them is the next watermark.
        self._advance(max((text.sent for text in texts if text.ready), default=None), success=True)

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        self._advance(max((self._sent[key] for key in (*done, *quarantined)), default=None))

    def record_error(self, error: str) -> None:
        with self.sessions.begin() as session:
            self._cursor(session).last_error = error[:2000]

    def _item(self, text: ReceivedText) -> Item:
        self._sent[text.sid] = text.sent
        raw = sms_record(text.sid, text.sender, text.to, text.body, text.sent, self.line.media(text))
        return Item(text.sid, raw, SOURCE)

    def _watermark(self) -> datetime | None:
        with self.sessions() as session:
            position = session.scalar(select(SourceCursor.position).where(SourceCursor.source == self.name))
        return datetime.fromtimestamp(position, UTC) if position else None

    def _advance(self, newest: datetime | None, success: bool = False) -> None:
        with self.sessions.begin() as session:
            cursor = self._cursor(session)
            if newest is not None:
                if self._hold_before is not None:
                    newest = min(newest, self._hold_before - timedelta(seconds=1))
                cursor.position = max(cursor.position or 0, int(newest.timestamp()))
            if success:
                cursor.last_success_at, cursor.last_error = self.now(), ""

    def _cursor(self, session: Session) -> SourceCursor:
        cursor = session.scalar(select(SourceCursor).where(SourceCursor.source == self.name))
        if cursor is None:
            cursor = SourceCursor(source=self.name, position=0, last_error="")
            session.add(cursor)
        return cursor

    def _stored(self, sids: list[str]) -> set[str]:
        keys = [f"twilio:{sid}" for sid in sids]
        found: set[str] = set()
        with self.sessions() as session:
            for start in range(0, len(keys), LOOKUP_CHUNK):
                chunk = keys[start:start + LOOKUP_CHUNK]
                found.update(session.scalars(select(Message.dedupe_key).where(Message.dedupe_key.in_(chunk))))
        return found

"""The database tables, as typed SQLAlchemy 2 ORM classes.

Times are stored as timezone-aware UTC. Raw inbound bytes are kept for every message, including the
ones in quarantine, so nothing the office received is ever lost.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from hub.core.clock import as_utc


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on every database (SQLite hands back naive times)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime()}


class Counter(Base):
    """Next case sequence number per reference year; updated in place so concurrent writers serialise."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Party(Base):
    """A person or organisation a case talks to: constituent, agency or staff."""

    __tablename__ = "parties"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    postal_address: Mapped[str | None] = mapped_column(Text)  # as the constituent wrote it (a web form)
    zip_code: Mapped[str | None] = mapped_column(String(16))
    agency_key: Mapped[str | None] = mapped_column(String(32))
    bounced_at: Mapped[datetime | None]
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]



class PartyContact(Base):
    """A constituent's further email address or phone number, beyond the one of each kind on their party row:
    their mail and texts join their cases like the first. Values normalised: lower-cased addresses, E.164."""

    __tablename__ = "party_contacts"
    __table_args__ = (UniqueConstraint("party_id", "value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    kind: Mapped[str] = mapped_column(String(8))  # email | phone
    value: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime]


class CasePerson(Base):
    """Someone else on a case, an authorised third party (a spouse, a representative): their mail and texts join
    the case like the constituent's, and letters can go to them. Never staff; a removed person's row is deleted
    (the case's events keep who was on it and when). Contact values normalised like PartyContact's."""

    __tablename__ = "case_people"
    __table_args__ = (UniqueConstraint("case_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))  # one of hub.cases.people.ROLES
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(32), default="new", index=True)
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    assignee: Mapped[str | None] = mapped_column(String(320))
    agency: Mapped[str | None] = mapped_column(String(32))
    agency_control: Mapped[str | None] = mapped_column(String(64), index=True)  # the agency's own number
    subject: Mapped[str] = mapped_column(Text, default="")
    constituent_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"), index=True)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(32))
    # How letters reach the constituent: "email" or "sms" (the channel they wrote in, until they STOP texts).
    contact_channel: Mapped[str] = mapped_column(String(8), default="email", server_default="email")
    # The case this one was merged into (hub.cases.merge): mail quoting this case's reference goes there.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    constituent: Mapped[Party | None] = relationship(lazy="joined")


class ForwardedRef(Base):
    """A reference another office (or another system) gave a case that now lives here (hub.transfer): mail
    quoting it threads to the case (hub.intake.thread), and importing the same case again is a no-op. `key` is
    the reference in its compact form (hub.core.refs.token_key), the way every token of it is looked up."""

    __tablename__ = "forwarded_refs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    old_ref: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    origin: Mapped[str] = mapped_column(String(200), default="")  # the office or system it came from
    created_at: Mapped[datetime]


class Release(Base):
    """A signed Privacy Act release on file for a case: when, how, for which agencies, and the evidence."""

    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    received_on: Mapped[date]
    signed_on: Mapped[date]
    # scan | e-signature | agency-form | web form | e-sign (hub.cases.casework.RELEASE_METHODS)
    method: Mapped[str] = mapped_column(String(32), default="scan")
    scope: Mapped[list[str]] = mapped_column(JSON, default=list)  # agency keys; empty: every agency
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    # The message that is the evidence when there is no attachment: a web form's submission.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    via: Mapped[str] = mapped_column(String(16), default="mail")
    created_at: Mapped[datetime]


class ReleaseLink(Base):
    """A personal link to sign a case's privacy release on the hub's page (hub.letters.release_link): its token id,
    when it stops working, and when it was used (once) or revoked. The token itself is never stored."""

    __tablename__ = "release_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    agency: Mapped[str | None] = mapped_column(String(32))  # the agency the release is for, when the case has one
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))


class Message(Base):
    """One inbound or outbound message. Inbound rows keep the raw bytes and their disposition."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_case_at", "case_id", "at"),
                      Index("ix_messages_sender_received", "sender", "received_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    direction: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(64))
    disposition: Mapped[str] = mapped_column(String(16))  # case | triage
    reason: Mapped[str] = mapped_column(Text, default="")
    triage_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    dedupe_key: Mapped[str] = mapped_column(String(512), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), default="")
    sender: Mapped[str] = mapped_column(String(320), default="")
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    full_text: Mapped[str] = mapped_column(Text, default="")
    # The raw bytes with the base64 of stored files cut out (message_file_cuts says where), and the SHA-256
    # of the whole raw message; read and written only through hub.core.file_store.
    raw_skeleton: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    received_at: Mapped[datetime]

    attachments: Mapped[list[Attachment]] = relationship(back_populates="message", lazy="selectin",
                                                         order_by="Attachment.id")
    file_cuts: Mapped[list[MessageFileCut]] = relationship(cascade="all, delete-orphan",
                                                           order_by="MessageFileCut.position")


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500), default="")
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    oversized: Mapped[bool] = mapped_column(Boolean, default=False)
    # A picture its message's HTML shows inside it (hub.intake.parse.email_files), not a file sent beside the text.
    inline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The file's bytes in stored_files; None for a file too large to keep or one purged (hub.core.file_store).
    sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), index=True)

    message: Mapped[Message] = relationship(back_populates="attachments")


class StoredFile(Base):
    """A file's bytes, kept once however many messages carry or enclose it, by their SHA-256 (hex)."""

    __tablename__ = "stored_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MessageFileCut(Base):
    """Where the base64 of a stored file was cut out of a message's raw bytes (hub.core.file_cuts): at
    `position` in the skeleton, in lines of `line_length` characters ended by `line_ending` (crlf | lf)."""

    __tablename__ = "message_file_cuts"
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"), index=True)
    line_length: Mapped[int] = mapped_column(Integer)
    line_ending: Mapped[str] = mapped_column(String(4))


class Event(Base):
    """The audit trail: every change and every disposition, with who, how and from which message."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(320), default="hub")
    via: Mapped[str] = mapped_column(String(16), default="rule")  # mail | cli | rule | sms
    at: Mapped[datetime]


class Reminder(Base):
    """A dated obligation on a case; satisfied or cancelled by what happens on the case.

    kind is one of hub.cases.due_dates.KINDS; state pending | done | cancelled. The sweep reads pending rows in
    due order (ix_reminders_due), so its cost follows the rows due, not the number of open cases."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_due", "state", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str] = mapped_column(Text, default="")  # what satisfied or cancelled it
    owner: Mapped[str] = mapped_column(String(320), default="", server_default="")  # who set a #followup
    outbox_id: Mapped[int | None]  # the letter or notice it produced


class Outbox(Base):
    """An outbound message waiting for, or done with, delivery. Its Message-ID is fixed at enqueue.

    `letter` names the template (or `relay` for a caseworker's own words, kept in `context`). Subject
    and body are rendered on the first delivery attempt and kept, so every retry sends the same text.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_ready", "state", "not_before"),
                      Index("ix_outbox_recipient_sent", "recipient", "sent_at"),
                      Index("ix_outbox_about", "about", "recipient", "letter", "created_at"),
                      # A digest's folded notices; only those, so that it is no choice for the rows not folded.
                      Index("ix_outbox_folded_into", "folded_into", sqlite_where=text("folded_into IS NOT NULL"),
                            postgresql_where=text("folded_into IS NOT NULL")),
                      # A case's letters of a kind (its thread's first notice, its inquiries sent), by one index
                      # with both conditions: on a new database, before PostgreSQL has statistics to choose by, an
                      # index on `state` alone looks as good, and its scan grows with the outbox.
                      Index("ix_outbox_case_letter", "case_id", "letter", "folded_into"),
                      # Only the rows between the sent mark and the record: few, and none most of the time.
                      Index("ix_outbox_unrecorded", "id", sqlite_where=text("unrecorded = 1"),
                            postgresql_where=text("unrecorded")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # ix_outbox_case_letter
    channel: Mapped[str] = mapped_column(String(8), default="email")
    letter: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[str | None] = mapped_column(Text)
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    automatic: Mapped[str] = mapped_column(String(16), default="")  # "" | auto-replied | auto-generated
    actor: Mapped[str] = mapped_column(String(320), default="hub")
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    # pending | sending | sent | failed | suppressed (a cap, a bounced or robot address) | cancelled
    # | folded (a notice in a flood: listed in the digest `folded_into`, hub.letters.notice_digest)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    provider_id: Mapped[str | None] = mapped_column(String(998))
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    about: Mapped[str | None] = mapped_column(String(320))  # a notice's or refusal's sender, for the flood caps
    folded_into: Mapped[int | None]  # the digest listing this notice instead of sending it
    # Set by the sent mark, cleared when the sent message is recorded on the case (hub.delivery.sent_record): a row
    # a crash left between the two is recorded by the next delivery pass.
    unrecorded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SmsOptOut(Base):
    """A number that asked for no more texts (STOP, or the carrier refused for it); START removes the row."""

    __tablename__ = "sms_opt_outs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    via: Mapped[str] = mapped_column(String(16))  # keyword | carrier
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class QuarantineItem(Base):
    """Inbound bytes the hub could not handle, with the reason: the whole message, or the header of one
    over the size limit."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(512), unique=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(8), default="email")
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set for a message over the size limit: `raw` is then only its header, and this says where the
    # message itself was left (a file's path, a Maildir path, an IMAP folder's URL).
    whole_message_at: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="held", index=True)  # held | retried | discarded
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class SourceCursor(Base):
    """How far a source has been read: IMAP UIDVALIDITY + last UID, or an SMS watermark."""

    __tablename__ = "source_cursors"
    __table_args__ = (UniqueConstraint("source"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    validity: Mapped[int | None] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class Lease(Base):
    """A named piece of work that one process at a time does ("inbox:imap:…"), held until `expires_at`
    unless its holder renews it (hub.core.leases)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))  # a random id of the holding process
    host: Mapped[str] = mapped_column(String(255))   # where it runs, for `hub status`
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PeriodicSend(Base):
    """Mail the hub sends by itself once a period, recorded as queued for one recipient (hub.core.periodic):
    the unique key is what makes a second cycle, a restart or a second daemon queue it no more."""

    __tablename__ = "periodic_sends"
    __table_args__ = (UniqueConstraint("job", "period", "recipient"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))        # caseworker-digest, …
    period: Mapped[str] = mapped_column(String(32))     # the label of the day (or week) it was due for
    recipient: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime]                                # when it was queued

"""InboundMessage: the one shape every channel produces, and the rest of the intake path reads; Submission,
what a web form's notification says of the person who filled it in; and Oversized, what is known of a
message too large to read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses

# The stdlib's address parser is pure Python: on a hostile header of a million `@` it takes minutes. Real
# address headers stay far below this (500 recipients fit), and what is past it is not read.
MAX_ADDRESS_HEADER = 16_384


def address_pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs of address header values, as `email.utils.getaddresses` reads them."""
    return getaddresses([str(value)[:MAX_ADDRESS_HEADER] for value in values])


@dataclass(frozen=True)
class Oversized:
    """A message over [limits] max_message_bytes, read only as far as its header."""

    size: int
    kept_at: str  # where the message itself stays: a file's path, a Maildir path, an IMAP folder's URL


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None when the attachment was over the size cap (the raw message still has it)
    inline: bool = False  # a picture the message's HTML shows inside it (a signature's logo, a pasted picture)

    @property
    def oversized(self) -> bool:
        return self.data is None


@dataclass(frozen=True)
class Submission:
    """A web form's notification as hub.intake.web_forms read it. With a `problem` the message stays the
    form robot's and goes to triage with that reason; without one, the message is the person's."""

    form_name: str                    # the form's [[forms]] name
    problem: str = ""
    email: str = ""                   # lowercase; "" when the form gave none
    phone: str = ""                   # E.164; "" when the form gave none (or none that reads as a number)
    name: str = ""
    postal_address: str = ""
    zip_code: str = ""
    release_signature: str = ""       # the name typed to sign the privacy release, when its box was ticked
    release_note: str = ""            # why a release the form seems to offer was not recorded


@dataclass(frozen=True)
class InboundMessage:
    channel: str                      # "email" | "sms"
    source: str                       # where it came from, e.g. "imap:INBOX", "maildir:…", "ingest:file.eml"
    dedupe_key: str                   # the durable key that makes a replay harmless
    raw: bytes
    sender: str                       # address (lowercase) or E.164 number
    sender_name: str = ""
    recipients: tuple[str, ...] = ()  # To, Cc, Delivered-To and friends, lowercase
    subject: str = ""
    text: str = ""                    # the whole readable text (HTML turned to text when no text part)
    new_text: str = ""                # the new part of a reply: quoted history and signature removed
    nothing_new: bool = False         # the sender wrote nothing now: new_text is then the whole text (or "")
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    date: datetime | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (lowercase name, value)
    attachments: tuple[InboundAttachment, ...] = ()
    content_type: str = ""            # the top-level MIME type, e.g. "multipart/report"
    report_type: str = ""             # its report-type parameter, for delivery-status reports
    return_path: str | None = None    # None when absent; "" when the header is `<>`
    from_address: str = ""            # the From header's own address ("" when it has none, or several)
    authentication_results: tuple[str, ...] = ()  # written by the office's server (above its Received line)
    form: Submission | None = None    # a web form's notification (hub.intake.web_forms)

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """In-Reply-To first, then References newest first: the order to look for a known message."""
        seen: dict[str, None] = dict.fromkeys(self.in_reply_to)
        seen.update(dict.fromkeys(reversed(self.references)))
        return tuple(seen)

    @property
    def sender_domain(self) -> str:
        return self.sender.rsplit("@", 1)[1] if "@" in self.sender else ""

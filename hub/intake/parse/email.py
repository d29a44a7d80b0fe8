"""Raw RFC 5322 bytes -> InboundMessage, with mail-parser doing the MIME work.

Decodes sender, recipients, subject (RFC 2047), text (HTML turned to text when there is no text
part), files (hub.intake.parse.email_files; over the size cap: recorded, not stored) and the new text of a
reply (without the quoted history, or the hub's own notice even unquoted). Text in any charset reads as its
sender wrote it (hub.intake.parse.charsets): declared charsets with their vendor supersets, raw 8-bit headers
and parts without a charset by detection. A header line broken without indentation is rejoined first
(hub.intake.parse.header_lines). Anything that goes wrong here is a
QuarantineError: the caller keeps the bytes and moves on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import replace
from email import message_from_bytes
from email.errors import MissingHeaderBodySeparatorDefect
from email.header import Header
from email.message import Message as EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import mailparser
from inscriptis import get_text

from hub.core.clock import as_utc
from hub.core.email_key import content_key
from hub.core.errors import QuarantineError
from hub.intake.message import InboundMessage, address_pairs
from hub.intake.parse import charsets
from hub.intake.parse.charsets import header_text, storable
from hub.intake.parse.email_files import attachments
from hub.intake.parse.header_lines import rejoin_broken_lines
from hub.intake.parse.reply_text import written_now
from hub.letters.notice_marks import without_notices

RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")
# No control characters (PostgreSQL text refuses NUL) and no longer than the column that keeps it.
MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]{1,990}>")
# The stdlib's parser checks every line against every multipart boundary open around it: 200 nested
# parts around 400,000 lines took 15 s. Real mail stays far below this product (a digest of a hundred
# messages in 20,000 lines is a fifth of it).
MAX_PARSE_WORK = 20_000_000
BOUNDARY = re.compile(rb"boundary\s*=", re.IGNORECASE)
MAX_HEADER_CHARS = 16_384  # what the parse reads of one header value (address lists of 500 fit)
MAX_PART_HEADER_CHARS = 2_048  # and of one in a part's headers (Content-Type, a report's fields)
MAX_ADDRESS = 320  # RFC 5321 allows 254; anything longer is no address (and no longer than the column)


def parse_email(raw: bytes, source: str, max_attachment_bytes: int) -> InboundMessage:
    """Parse one message; raise QuarantineError naming what could not be read, and nothing else."""
    if not raw.strip():
        raise QuarantineError("empty message")
    boundaries, lines = len(BOUNDARY.findall(raw)), raw.count(b"\n")
    if boundaries * lines > MAX_PARSE_WORK:
        raise QuarantineError(f"MIME structure too costly to read: {boundaries} multipart boundaries over {lines} "
                              "lines")
    try:
        message = _message(raw)
        results = _trusted_authentication_results(message)
        hints = _CharsetHints(message)
        mail = _mail_parser(message, hints)
    except Exception as error:  # mail-parser raises many kinds on broken MIME; all mean "keep the bytes"
        raise QuarantineError(f"unparseable MIME: {type(error).__name__}: {error}") from None
    try:
        return replace(_inbound(raw, mail, source, max_attachment_bytes, hints), authentication_results=results,
                       from_address=_from_address(message))
    except QuarantineError:
        raise
    except Exception as error:  # whatever the bytes, the caller gets a QuarantineError, never a crash
        raise QuarantineError(f"unreadable message: {type(error).__name__}: {error}") from None


def _message(raw: bytes) -> EmailMessage:
    """The stdlib's tree; when a line in the header block ended the headers early, the tree of the bytes
    with that line rejoined to the header it belongs to (the InboundMessage keeps the raw bytes as sent)."""
    message = message_from_bytes(raw)
    if any(isinstance(defect, MissingHeaderBodySeparatorDefect) for defect in message.defects):
        repaired = rejoin_broken_lines(raw)
        if repaired is not raw:
            return message_from_bytes(repaired)
    return message


class _CharsetHints:
    """The charsets the message's parts declare (besides ASCII and UTF-8, which are tried anyway): how its
    raw 8-bit headers and undeclared parts are most likely written. Looked up the first time undeclared
    text needs them, which most messages never do."""

    def __init__(self, message: EmailMessage) -> None:
        self._message = message
        self._found: tuple[str, ...] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._found is None:
            found = (part.get_param("charset") for part in self._message.walk())
            self._found = tuple(dict.fromkeys(charset for charset in found if isinstance(charset, str) and
                                              charsets.canonical(charset) not in (None, "ascii", "utf-8")))
        return iter(self._found)


def _trusted_authentication_results(message: EmailMessage) -> tuple[str, ...]:
    """Authentication-Results written by the office's own server: the ones above its first Received
    line. One the sender put in the message sits below that line and is never trusted."""
    found = []
    for name, value in message.items():
        lowered = name.lower()
        if lowered == "received":
            break
        if lowered == "authentication-results":
            found.append(header_text(value) if isinstance(value, Header) else str(value))
    return tuple(found)


def _from_address(message: EmailMessage) -> str:
    """The address in the From header itself ("" without one), whatever Sender or Return-Path say."""
    addresses = _addresses(message, "from")
    return addresses[0][1] if len(addresses) == 1 else ""


def _mail_parser(message: EmailMessage, hints: Iterable[str]) -> Any:
    # mail-parser analyses every Received header when it starts (a fifth of its time); the hub reads
    # none of them, and the raw message it keeps has them all.
    del message["received"]
    _shorten_long_headers(message)
    if message.is_multipart() and message.epilogue is None:
        # mail-parser 4.8 looks for a lost part in the epilogue when any part has a
        # StartBoundaryNotFoundDefect, and fails with AttributeError on a missing (None) epilogue
        # (sisimai lhost-sendgrid-01/02: a real bounce). An empty epilogue means the same and parses.
        message.epilogue = ""
    return _MailParser(message, hints)


def _shorten_long_headers(message: EmailMessage) -> None:
    """Header values cut short for the parse only (the raw bytes keep them whole): MAX_HEADER_CHARS in the
    message's own headers, MAX_PART_HEADER_CHARS in those of its parts.

    mail-parser writes each part out again with the stdlib's generator, whose folding of a long header is
    quadratic (16 KB of words take 0.7 s, 100 KB minutes), once for every multipart level above the part.
    Thread ids keep their end, where the newest are."""
    for part in message.walk():
        limit = MAX_HEADER_CHARS if part is message else MAX_PART_HEADER_CHARS
        long = {name.lower() for name, value in part.items() if len(str(value)) > limit}
        for name in long:  # they move to the end of the header block, where nothing read here minds
            values = part.get_all(name, [])
            del part[name]
            for value in values:
                part[name] = _shortened(name, value, limit)


def _shortened(name: str, value: Any, limit: int) -> Any:
    if len(str(value)) <= limit:
        return value
    value = str(value)  # a Header (raw 8-bit bytes) as the text it stands for
    if name.lower() in ("references", "in-reply-to"):
        return value[-limit:].split(None, 1)[-1]  # whole ids only
    return value[:limit]


class _MailParser(mailparser.MailParser):  # type: ignore[misc]
    """mail-parser, reading text parts in their charsets as hub.intake.parse.charsets does, and without the two
    summary dicts (`mail`, `mail_partial`) its parse() builds at the end.

    mail-parser returns a 7-bit part as it stands (ISO-2022-JP keeps its escape codes) and reads text its
    charset cannot decode as UTF-8 (GB2312 holding GBK characters turns to mojibake). Nothing here reads
    the summary dicts, and building them decodes every header twice and splits every Received line: a
    sixth of the parse."""

    def __init__(self, message: EmailMessage, hints: Iterable[str]) -> None:
        self._charset_hints = hints
        super().__init__(message)

    def _decode_body_payload(self, part: EmailMessage, charset: str, part_index: int) -> str:
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            return ""
        return unicodedata.normalize("NFC", charsets.decode(data, part.get_content_charset(), self._charset_hints))

    def _make_mail(self, complete: bool = True) -> dict[str, Any]:
        return {}


def _inbound(raw: bytes, mail: Any, source: str, max_attachment_bytes: int, hints: Iterable[str]) -> InboundMessage:
    message: EmailMessage = mail.message
    # Screening reads only ASCII headers (Auto-Submitted, List-Id, …): they are kept as sent, and only
    # the ones the stdlib could not read as text (raw 8-bit) are decoded here.
    headers = tuple((name.lower(), header_text(value, hints) if isinstance(value, Header) else storable(value, hints))
                    for name, value in message.items())
    if not any(name in ("from", "sender", "return-path", "to", "subject", "message-id") for name, _ in headers):
        raise QuarantineError("no message headers found")
    sender_name, sender = _sender(mail, message, hints)
    sender = storable(sender) if len(sender) <= MAX_ADDRESS else ""
    message_id = _first_id(message.get("message-id"))
    text = _text(mail)
    # The hub's own notice is never part of what anyone wrote now, quoted or pasted as it is.
    written = written_now(without_notices(text))
    try:
        return InboundMessage(
            channel="email",
            source=source,
            dedupe_key=content_key(raw),
            raw=raw,
            sender=sender,
            sender_name=sender_name,
            recipients=_recipients(mail, message),
            subject=_clean(header_text(message.get("subject", ""), hints)),
            text=text,
            new_text=written or text.replace("\r\n", "\n"),
            nothing_new=not written,
            message_id=message_id,
            in_reply_to=tuple(MESSAGE_ID.findall(str(message.get("in-reply-to", "")))),
            references=tuple(MESSAGE_ID.findall(" ".join(str(v) for v in message.get_all("references", [])))),
            date=_date(message.get("date")),
            headers=headers,
            attachments=tuple(attachments(message, max_attachment_bytes, hints)),
            content_type=message.get_content_type(),
            report_type=str(message.get_param("report-type", "") or "").lower(),
            return_path=_return_path(message),
        )
    except (TypeError, ValueError, LookupError, AttributeError) as error:
        raise QuarantineError(f"unreadable headers: {type(error).__name__}: {error}") from None


def _clean(text: str) -> str:
    return " ".join(text.split())


def _sender(mail: Any, message: EmailMessage, hints: Iterable[str]) -> tuple[str, str]:
    """The From address as mail-parser reads it, which is right where the stdlib is not:
    `alice@example.com <bob@example.com>` is bob (spamscope mail_test_19). The display name from the
    stdlib, split before RFC 2047 decoding so an encoded comma stays inside the name (mail_test_18), then
    decoded (mail-parser leaves `"=?UTF-8?B?…?="` alone, chatwoot non_utf_encoded_mail, and writes 8-bit
    bytes as `\\udcfc`, flanker from-encoding). Without a From: the Sender (RFC 5322 §3.6.2: who sent it for
    the author), then Reply-To (where the author wants answers), and only then the envelope's Return-Path,
    which is often a bounce-handling address of a mail service."""
    ours = _addresses(message, "from", hints)
    for name, address in _mailparser_addresses(mail, "from_"):
        if "@" in address:
            address = address.strip().lower()
            mine = next((own for own, other in ours if other == address and own), "")
            if not mine and "\\u" not in name and "=?" not in name:
                mine = name
            if mine.strip().lower() == address:
                mine = ""  # a display name that only repeats the address (spamscope mail_test_17)
            return _clean(storable(mine, hints)), address
    for header in ("from", "sender", "reply-to", "return-path"):
        for name, address in _addresses(message, header, hints):
            return _clean(name), address
    return "", ""


def _addresses(message: EmailMessage, header: str, hints: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(decoded display name, lowercase address) pairs of a header, split before decoding."""
    found = []
    for value in message.get_all(header, []):
        # a Header holds raw 8-bit bytes
        text = header_text(value, hints) if isinstance(value, Header) else str(value)
        for name, address in address_pairs([text]):
            if "@" in address:
                found.append((header_text(name, hints), address.strip().lower()))
    return found


def _recipients(mail: Any, message: EmailMessage) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for attribute in ("to", "cc", "delivered_to"):
        for _, address in _mailparser_addresses(mail, attribute):
            if "@" in address:
                found[address.strip().lower()] = None
    # The stdlib reads the headers mail-parser does not, and To/Cc when mail-parser found nothing usable in
    # them (a malformed To such as `<a@example.com>a@example.com`, chatwoot mail_with_invalid_to).
    headers = RECIPIENT_HEADERS if not found else ("x-original-to", "envelope-to")
    for header in headers:
        found.update(dict.fromkeys(address for _, address in _addresses(message, header)))
    return tuple(found)


def _mailparser_addresses(mail: Any, attribute: str) -> list[tuple[str, str]]:
    value = getattr(mail, attribute, None)
    return [pair for pair in value if isinstance(pair, tuple) and len(pair) == 2] if isinstance(value, list) else []


def _first_id(value: Any) -> str | None:
    if value is None:
        return None
    match = MESSAGE_ID.search(str(value))
    if match:
        return match.group(0)
    bare = str(value).strip()
    return f"<{bare}>" if MESSAGE_ID.fullmatch(f"<{bare}>") else None


def _return_path(message: EmailMessage) -> str | None:
    value = message.get("return-path")
    if value is None:
        return None
    return str(value).strip().strip("<>").strip().lower()


def _date(value: Any) -> Any:
    if not value:
        return None
    try:
        return as_utc(parsedate_to_datetime(str(value)))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _text(mail: Any) -> str:
    plain = "\n".join(part for part in mail.text_plain if part).strip()
    if plain:
        return storable(plain)
    html = "\n".join(part for part in mail.text_html if part)
    return storable(get_text(html).strip()) if html.strip() else ""

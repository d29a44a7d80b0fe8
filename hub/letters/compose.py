"""An outbox row and its rendered text -> the RFC 5322 message the hub sends.

The reference travels everywhere: `[REF]` in the subject, the plus-address in Reply-To, our
Message-ID (which carries it), In-Reply-To/References when the letter answers a message, and a
footer line. Automatic mail says so (RFC 3834 Auto-Submitted, Exchange's X-Auto-Response-Suppress,
our own loop header); mail a caseworker wrote carries none of these. The hub's own mail to staff has its
text between marker lines (hub.letters.notice_marks), so that a reply to it never relays it, and is one
thread per case, Outlook's conversation headers included (hub.letters.notice_thread).

The bytes are those the stdlib's EmailMessage writes (policy.SMTP). A letter of text alone, the everyday
one, is written directly to those same bytes; a letter with HTML or files is composed by EmailMessage.
"""

from __future__ import annotations

import base64
import binascii
import functools
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime
from email import quoprimime
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from hub.core.config import Config
from hub.core.file_store import attachment_bytes
from hub.core.models import Attachment as StoredAttachment
from hub.core.models import Case, Outbox
from hub.core.refs import References
from hub.letters.loop_header import LOOP_HEADER
from hub.letters.notice_marks import marked
from hub.letters.notice_thread import thread_index, thread_topic
from hub.letters.templates import TO_STAFF

# A file of a type the stdlib writes only from parsed header blocks (a bounce's report, kept as bytes):
# enclosed as plain text, or composing the whole letter fails.
WRITTEN_AS_TEXT = frozenset({("message", "delivery-status")})


@dataclass(frozen=True)
class Attachment:
    """A file sent with a letter: the privacy release form, a report's CSV, a calendar invitation."""

    filename: str
    content_type: str
    data: bytes

    @classmethod
    def from_path(cls, path: Path) -> Attachment:
        kind, _ = mimetypes.guess_type(path.name)
        return cls(path.name, kind or "application/octet-stream", path.read_bytes())


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows, as `<img src="cid:CID">`: sent in multipart/related beside it."""

    cid: str  # without the angle brackets: "chart-year.2026-W47@office.example.org"
    content_type: str
    data: bytes
    filename: str = ""


@dataclass(frozen=True)
class HtmlPart:
    """An HTML alternative to the text body, with the images it refers to by cid:."""

    html: str
    images: tuple[InlineImage, ...] = ()


@dataclass(frozen=True)
class Outgoing:
    """What compose needs from an outbox row and its case."""

    recipient: str
    subject: str
    body: str
    message_id: str
    case_ref: str | None
    in_reply_to: str | None = None
    references: str | None = None
    automatic: str = ""
    agency_control: str | None = None   # set when the mail goes to the agency that uses this number
    attachments: tuple[Attachment, ...] = ()
    to_staff: bool = False  # the hub's own mail to the office's people: its text goes between notice markers
    thread_topic: str = ""  # Outlook's conversation of the mail to staff about a case (hub.letters.notice_thread)
    thread_index: str = ""
    html: HtmlPart | None = None


def carried_attachments(context: dict[str, Any]) -> tuple[Attachment, ...]:
    """The files an outbox row carries in its context: `attachments`, a list of {filename, content_type, text}."""
    return tuple(Attachment(str(item["filename"]), str(item["content_type"]), str(item["text"]).encode())
                 for item in context.get("attachments", ()))


def enclosed_files(session: Session, context: dict[str, Any]) -> tuple[Attachment, ...]:
    """The files on the case an outbox row encloses: `enclosures`, their ids (the release sent to an agency)."""
    enclosed: tuple[Attachment, ...] = ()
    for attachment_id in context.get("enclosures", ()):
        kept = session.get(StoredAttachment, int(attachment_id))
        data = attachment_bytes(session, kept) if kept is not None else None
        if kept is None or data is None:
            raise ValueError(f"the file {attachment_id} the letter encloses is no longer on the case")
        enclosed += (Attachment(kept.filename or f"attachment-{kept.id}", kept.content_type, data),)
    return enclosed


def attachment_context(*attachments: Attachment) -> list[dict[str, str]]:
    """What `carried_attachments` reads back: text files (a CSV, an iCalendar invitation) kept on the row."""
    return [{"filename": a.filename, "content_type": a.content_type, "text": a.data.decode()} for a in attachments]


def html_context(part: HtmlPart) -> dict[str, Any]:
    """What `carried_html` reads back from the row's context `html`: the HTML and its images (base64), kept
    on the outbox row so that a resend, or the sent copy composed again after a crash, carries the same bytes."""
    return {"html": part.html, "images": [
        {"cid": image.cid, "content_type": image.content_type, "filename": image.filename,
         "base64": base64.b64encode(image.data).decode("ascii")} for image in part.images]}


def carried_html(context: dict[str, Any]) -> HtmlPart | None:
    """The HTML alternative an outbox row carries in its context (`html`, as `html_context` wrote it), if any."""
    kept = context.get("html")
    if not kept:
        return None
    return HtmlPart(str(kept["html"]), tuple(
        InlineImage(str(item["cid"]), str(item["content_type"]), base64.b64decode(item["base64"]),
                    str(item.get("filename", ""))) for item in kept.get("images", ())))


def outgoing_for(session: Session, row: Outbox, case: Case | None, config: Config) -> Outgoing:
    """What compose needs for an outbox row whose subject and body are rendered: the same each time it
    is asked, for the send and for composing the sent copy again after a crash."""
    assert row.subject is not None and row.body is not None, "rendered before it is composed"
    agency = config.agency(case.agency) if case else None
    to_agency = agency is not None and agency.has_domain(row.recipient.rsplit("@", 1)[-1]) or (
        agency is not None and row.recipient == agency.liaison)
    attachments = carried_attachments(row.context) + enclosed_files(session, row.context)
    if row.letter == "privacy-release-request" and config.letters.privacy_release_form:
        attachments += (Attachment.from_path(config.resolve(config.letters.privacy_release_form)),)
    to_staff = row.letter in TO_STAFF
    topic, index = ((thread_topic(case.ref, case.subject),
                     thread_index(config.office.domain, case.ref, case.opened_at, row.created_at))
                    if to_staff and case else ("", ""))
    return Outgoing(
        recipient=row.recipient, subject=row.subject, body=row.body, message_id=row.message_id,
        case_ref=case.ref if case else None, in_reply_to=row.in_reply_to, references=row.references,
        automatic=row.automatic, agency_control=case.agency_control if case and to_agency else None,
        attachments=attachments, to_staff=to_staff, thread_topic=topic, thread_index=index,
        html=carried_html(row.context))


def subject_line(outgoing: Outgoing) -> str:
    subject = " ".join(outgoing.subject.split())
    if outgoing.case_ref and outgoing.case_ref.lower() not in subject.lower():
        subject = f"[{outgoing.case_ref}] {subject}"
    if outgoing.agency_control and outgoing.agency_control not in subject:
        subject = f"{subject} (your ref. {outgoing.agency_control})"
    return subject


def footer(case_ref: str | None) -> str:
    if not case_ref:
        return ""
    return f"Our reference: {case_ref}. Please keep it in the subject line when you reply."


def letter_text(outgoing: Outgoing) -> str:
    """The text the letter's body says: the rendered body, the footer, between notice markers for staff."""
    tail = footer(outgoing.case_ref)
    text = outgoing.body.rstrip() + ("\n\n" + tail if tail else "")
    return (marked(text, outgoing.case_ref) if outgoing.to_staff else text) + "\n"


def compose(outgoing: Outgoing, config: Config, refs: References, now: datetime) -> bytes:
    """The RFC 5322 bytes of the letter, as sent: those the stdlib's EmailMessage writes (policy.SMTP)."""
    if written_directly(outgoing):
        return _compose_text_alone(outgoing, config, refs, now)
    return _compose_with_stdlib(outgoing, config, refs, now)


def written_directly(outgoing: Outgoing) -> bool:
    """Whether compose writes the letter's bytes itself: a letter of text alone, no HTML and no files."""
    return outgoing.html is None and not outgoing.attachments


def _compose_with_stdlib(outgoing: Outgoing, config: Config, refs: References, now: datetime) -> bytes:
    """The letter as the stdlib's EmailMessage writes it: any letter, and the reference the fast path must equal."""
    office = config.office
    message = EmailMessage()
    message["From"] = _header("From", _office_from(office.name, office.address))
    message["To"] = _header("To", outgoing.recipient)
    message["Reply-To"] = _header("Reply-To", _reply_to(refs, office.address, outgoing.case_ref))
    message["Subject"] = subject_line(outgoing)
    message["Date"] = _header("Date", format_datetime(now))
    message["Message-ID"] = outgoing.message_id
    if outgoing.in_reply_to:
        message["In-Reply-To"] = outgoing.in_reply_to
        message["References"] = " ".join((outgoing.references or "").split() + [outgoing.in_reply_to])
    if outgoing.thread_topic:
        message["Thread-Topic"] = outgoing.thread_topic
        message["Thread-Index"] = outgoing.thread_index
    if outgoing.automatic:
        message["Auto-Submitted"] = _header("Auto-Submitted", outgoing.automatic)
        message["X-Auto-Response-Suppress"] = _header("X-Auto-Response-Suppress", "OOF, AutoReply")
        message[LOOP_HEADER] = _header(LOOP_HEADER, office.address)
    message.set_content(letter_text(outgoing))
    if outgoing.html is not None:
        _add_html(message, outgoing.html)
    for attachment in outgoing.attachments:
        kind, _, parameters = attachment.content_type.partition(";")
        main, sub = kind.strip().split("/", 1)
        if (main.lower(), sub.lower()) in WRITTEN_AS_TEXT:
            main, sub, parameters = "text", "plain", ""
        message.add_attachment(attachment.data, maintype=main, subtype=sub, filename=attachment.filename,
                               params=_parameters(parameters))
    return message.as_bytes(policy=SMTP)


# Why the fast path: composing with EmailMessage parses every header just written, chooses the body's encoding
# and folds it all back into bytes, and that was a fifth of a delivery pass. A letter of text alone is simple
# enough to write directly. The stdlib stays the reference, byte for byte: a header the fast path cannot be
# sure to write as the stdlib would (non-ASCII, a word longer than a line, a value its parser would rewrite)
# is folded by the stdlib's own policy, and tests/unit/letters/test_compose_fast.py holds both paths to the
# same bytes for many generated letters.

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_ADDR_SPEC = re.compile(rf"{_DOT_ATOM}@{_DOT_ATOM}")
_MSG_ID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")
_WORDS = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII, one space between words, none around them
# The headers written as they are when the value has this shape: the shapes the header registry's parser of
# each gives back unchanged. Others (From, Date, the automatic headers) repeat from letter to letter, and
# the stdlib's folding of them is kept.
_SHAPE_WRITTEN_AS_IS = {
    "To": _ADDR_SPEC, "Reply-To": _ADDR_SPEC, "Message-ID": _MSG_ID, "Subject": _WORDS, "In-Reply-To": _WORDS,
    "References": _WORDS, "Thread-Topic": _WORDS, "Thread-Index": _WORDS}
_MAX_LINE = 78  # policy.default's and policy.SMTP's max_line_length: for the headers and the body's encoding alike


def _compose_text_alone(outgoing: Outgoing, config: Config, refs: References, now: datetime) -> bytes:
    """A letter of text alone (`written_directly`), written as bytes: the same bytes as `_compose_with_stdlib`."""
    office = config.office
    lines = [
        _header_line("From", _office_from(office.name, office.address)),
        _header_line("To", outgoing.recipient),
        _header_line("Reply-To", _reply_to(refs, office.address, outgoing.case_ref)),
        _header_line("Subject", subject_line(outgoing)),
        _header_line("Date", format_datetime(now)),
        _header_line("Message-ID", outgoing.message_id),
    ]
    if outgoing.in_reply_to:
        lines.append(_header_line("In-Reply-To", outgoing.in_reply_to))
        lines.append(_header_line("References", " ".join((outgoing.references or "").split()
                                                         + [outgoing.in_reply_to])))
    if outgoing.thread_topic:
        lines.append(_header_line("Thread-Topic", outgoing.thread_topic))
        lines.append(_header_line("Thread-Index", outgoing.thread_index))
    if outgoing.automatic:
        lines.append(_header_line("Auto-Submitted", outgoing.automatic))
        lines.append(_header_line("X-Auto-Response-Suppress", "OOF, AutoReply"))
        lines.append(_header_line(LOOP_HEADER, office.address))
    encoding, body = _text_body(letter_text(outgoing))
    return b"".join(lines) + _content_headers(encoding) + b"\r\n" + body


def written_as_is(name: str, value: str) -> bool:
    """Whether compose writes the header itself, folding it as the stdlib would, without the stdlib's parser."""
    return _as_is(name, value) is not None


def _header_line(name: str, value: str) -> bytes:
    line = _as_is(name, value)
    return line.encode("ascii") if line is not None else _folded(name, value)


def _as_is(name: str, value: str) -> str | None:
    """The header's line(s) as the stdlib folds a value of printable ASCII words (email._header_value_parser's
    _refold_parse_tree): on the header's line if it fits in 78, else alone on the next; else, unstructured,
    a word at a time, each space kept before the word after it. None when only the stdlib knows how."""
    shape = _SHAPE_WRITTEN_AS_IS.get(name)
    if shape is None or "=?" in value or shape.fullmatch(value) is None:
        return None
    if len(name) + 2 + len(value) <= _MAX_LINE:
        return f"{name}: {value}\r\n"
    if len(value) + 1 <= _MAX_LINE:
        return f"{name}:\r\n {value}\r\n"
    words = value.split(" ")
    if max(len(word) for word in words) + 1 > _MAX_LINE:
        return None  # a word longer than a line (an address, a Message-ID are one): the stdlib encodes it to fold it
    lines, line = [], f"{name}: "
    for number, word in enumerate(words):
        line += " " if number else ""
        if len(line) + len(word) <= _MAX_LINE:
            line += word
        else:  # the space before the word goes with it to the next line
            lines.append(line[:-1])
            line = " " + word
    return "\r\n".join(lines + [line]) + "\r\n"


@functools.lru_cache(maxsize=16)
def _office_from(name: str, address: str) -> str:
    """The From of the office's letters."""
    return formataddr((name, address))


@functools.lru_cache(maxsize=1024)
def _reply_to(refs: References, office_address: str, case_ref: str | None) -> str:
    """Where a reply to a letter goes: the office's plus-address carrying the case's verified reference, else the
    office's own address. Kept for the letters that follow on a case (two keyed hashes a letter otherwise)."""
    reference = refs.parse(case_ref) if case_ref else None
    return refs.plus_address(office_address, reference) if reference else office_address


@functools.lru_cache(maxsize=1024)
def _folded(name: str, value: str) -> bytes:
    """The header as the stdlib writes it in a message: parsed by policy.default, folded by policy.SMTP."""
    return SMTP.fold_binary(name, _header(name, value))


def _text_body(text: str) -> tuple[str, bytes]:
    """The Content-Transfer-Encoding and the bytes of a utf-8 text body, chosen as the stdlib's set_content
    chooses them (email.contentmanager._encode_text, policy.default): 7bit or 8bit while every line has 78
    bytes at most, else quoted-printable or base64, whichever is shorter for the first ten lines."""
    lines = text.encode("utf-8").splitlines()
    if max(map(len, lines), default=0) <= _MAX_LINE:
        body = b"\r\n".join(lines) + b"\r\n"
        return ("7bit" if body.isascii() else "8bit"), body
    head = b"\n".join(lines[:10]) + b"\n"
    if len(quoprimime.body_encode(head.decode("latin-1"), _MAX_LINE)) > len(binascii.b2a_base64(head)):
        data = b"\n".join(lines) + b"\n"
        step = _MAX_LINE // 4 * 3
        return "base64", b"".join(binascii.b2a_base64(data[i:i + step]).replace(b"\n", b"\r\n")
                                  for i in range(0, len(data), step))
    encoded = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _MAX_LINE)
    return "quoted-printable", encoded.replace("\n", "\r\n").encode("ascii")


@functools.lru_cache(maxsize=4)
def _content_headers(encoding: str) -> bytes:
    """Content-Type, Content-Transfer-Encoding and MIME-Version as set_content writes them for utf-8 text."""
    message = EmailMessage()
    message.set_content("", cte=encoding)
    head, _, _ = message.as_bytes(policy=SMTP).partition(b"\r\n\r\n")
    return head + b"\r\n"


@functools.lru_cache(maxsize=1024)
def _header(name: str, value: str) -> BaseHeader:
    """The header as EmailMessage parses it, parsed once for the values that repeat from letter to letter (the
    office's From, a case's Reply-To, the automatic-mail headers): the message takes the parsed object as is,
    so the bytes are the same, and parsing is most of what composing a letter costs."""
    parsed = default.header_store_parse(name, value)[1]
    assert isinstance(parsed, BaseHeader)
    return parsed


def _add_html(message: EmailMessage, part: HtmlPart) -> None:
    """multipart/alternative (text, then HTML); the HTML in multipart/related with its images inline."""
    message.add_alternative(part.html, subtype="html")
    html = list(message.iter_parts())[-1]
    assert isinstance(html, EmailMessage)
    for image in part.images:
        main, sub = image.content_type.split("/", 1)
        html.add_related(image.data, maintype=main, subtype=sub, cid=f"<{image.cid}>", disposition="inline",
                         filename=image.filename or None)


def _parameters(text: str) -> dict[str, str]:
    """`method=REQUEST; charset=utf-8` -> {"method": "REQUEST", "charset": "utf-8"}."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {name.strip(): value.strip().strip('"') for name, value in pairs}

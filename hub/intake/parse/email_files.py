"""The files of a message: every MIME part that is not its readable text, each with a name a person can use.

Nothing a sender attached goes unlisted, and no file is named at random:
- a forwarded or returned message (message/rfc822, message/global) is one file, `<its subject>.eml`
  (Zammad names it the same way), with everything inside it;
- a report part of a bounce or receipt (message/delivery-status, message/disposition-notification, …) is
  `delivery-status.txt` and so on, and returned headers (text/rfc822-headers) `<subject> (headers).txt`;
- Outlook's winmail.dat (application/ms-tnef) is the files inside it (hub.intake.parse.tnef);
- a signed message's signature (S/MIME's smime.p7s, OpenPGP's signature.asc: the second part of a
  multipart/signed) is the message's, not a file: the raw message keeps it;
- a part without a name is named from its Content-ID when that is a file name (Outlook's
  `<image001.png@01D9…>`), else `image-1.gif` or `attachment-2.pdf` by its type (osTicket names Lotus Notes'
  nameless inline images `image-….gif` too);
- names are decoded like headers: RFC 2231 and RFC 2047 in any charset, raw 8-bit bytes as undeclared text.
The readable text is a text/plain or text/html part with no file name that is not a download
(Content-Disposition: attachment); a text part of a multipart/alternative is another rendering of it.
A picture in the multipart/related around the HTML, with a Content-ID for the HTML to show it by, is `inline`: a
signature's logo, or a picture pasted into the text (Outlook, Gmail, Apple Mail, Lotus Notes). Its disposition is
not asked: the parts of a multipart/related are the resources of its first (RFC 2387), and Gmail labels the
picture its bounces show an attachment.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Iterator
from email import message_from_string
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from email.utils import collapse_rfc2231_value
from io import BytesIO
from typing import Any

from hub.intake.message import InboundAttachment
from hub.intake.parse.charsets import decode, header_text, undeclared
from hub.intake.parse.tnef import files_inside, is_tnef

MESSAGE_TYPES = ("message/rfc822", "message/global")
HEADER_TYPES = ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers")
BODY_TYPES = ("text/plain", "text/html")
SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature")
# Characters no file system takes in a name, and control characters.
UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
CONTENT_ID_NAME = re.compile(r"^<?([\w.-]+\.[A-Za-z0-9]{2,5})@", re.ASCII)
LONGEST_NAME = 120


def attachments(message: Message, cap: int, hints: Iterable[str] = ()) -> list[InboundAttachment]:
    """The message's files in the order they appear; a file over `cap` bytes is listed without its data."""
    found = []
    generated = 0
    for part, parent in _parts(message):
        content_type = part.get_content_type()
        if parent == "multipart/signed" and content_type in SIGNATURE_TYPES:
            continue
        name = _filename(part, hints)
        if not name and (parent == "multipart/alternative" and content_type.startswith("text/") or
                         content_type in BODY_TYPES and part.get_content_disposition() != "attachment"):
            continue  # the readable text, or another rendering of it (text/enriched, text/watch-html)
        data = _data(part)
        inside = files_inside(data) if is_tnef(content_type, name) else None
        if inside is not None:
            for file in inside:
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                generated += not file.name
                found.append(_file(file.name or _generated_name(kind, generated), kind, file.data, cap))
            continue
        if not name:
            name = _described_name(part, content_type, hints)
        if not name:
            generated += 1
            name = _generated_name(content_type, generated)
        found.append(_file(name, content_type, data, cap, _shown_inside(part, content_type, parent)))
    return found


def _file(name: str, content_type: str, data: bytes, cap: int, inline: bool = False) -> InboundAttachment:
    return InboundAttachment(filename=name[:500], content_type=content_type[:200], size=len(data),
                             data=data if len(data) <= cap else None, inline=inline)


def _parts(message: Message) -> Iterator[tuple[Message, str]]:
    """Leaf parts and whole attached messages, depth first, with the type of the multipart they sit in ("" for
    the message itself). An attached message or a report is one file: its inside is not walked. A multipart the
    parser could not split (no boundary found, flanker mailformed-headers) is no file: the raw message keeps its
    bytes."""
    stack: list[tuple[Message, str]] = [(message, "")]
    while stack:
        part, parent = stack.pop()
        content_type = part.get_content_type()
        payload = part.get_payload()
        if content_type.startswith("multipart/") and isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)] + _lost_parts(part)
            stack.extend((child, content_type) for child in reversed(children))
        elif not content_type.startswith("multipart/") and (part is not message or not isinstance(payload, list)
                                                               or content_type in MESSAGE_TYPES):
            yield part, parent


def _shown_inside(part: Message, content_type: str, parent: str) -> bool:
    """A picture the HTML beside it shows (by its Content-ID), rather than a file sent for its own sake."""
    return content_type.startswith("image/") and parent == "multipart/related" and "content-id" in part


def _lost_parts(part: Message) -> list[Message]:
    """Parts the parser left in the epilogue: an inner multipart that reused the outer boundary ends the
    outer one early (cpython msg_15, Outlook Express for Mac), and the parts after it follow its end."""
    epilogue = part.epilogue or ""
    boundary = part.get_boundary() if "--" in epilogue else None
    if not boundary or f"--{boundary}" not in epilogue:
        return []
    pieces = re.split(rf"^--{re.escape(boundary)}(?:--)?[ \t]*\r?$", epilogue, flags=re.M)[1:]
    return [message_from_string(piece.lstrip("\r\n")) for piece in pieces if piece.strip()]


def _filename(part: Message, hints: Iterable[str]) -> str:
    """The part's own file name: Content-Disposition filename, else Content-Type name, decoded."""
    view = _readable_view(part, hints)
    for header, parameter in (("content-disposition", "filename"), ("content-type", "name")):
        value = view.get_param(parameter, None, header=header)
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
            charset, _, text = value
            raw = text.encode("latin-1", "replace") if isinstance(text, str) else b""
            name = decode(raw, charset, hints) if charset else collapse_rfc2231_value(value)
        else:
            name = header_text(str(value), hints)  # RFC 2047 words: Outlook writes names so
        name = " ".join(name.replace("\x00", "").split())
        if name:
            return name
    return ""


def _readable_view(part: Message, hints: Iterable[str]) -> Message:
    """The part, or when its Content-Type or Content-Disposition holds raw 8-bit bytes (which the stdlib turns
    into U+FFFD when it reads a parameter: flanker russian-attachment-yahoo) those two read as text."""
    fields = [(name, value) for name, value in part.raw_items()
              if name.lower() in ("content-type", "content-disposition") and isinstance(value, str)]
    if all(value.isascii() for _, value in fields):
        return part
    view = Message()
    for name, value in fields:
        view[name] = value if value.isascii() else undeclared(value.encode("utf-8", "surrogateescape"), hints)
    return view


def _described_name(part: Message, content_type: str, hints: Iterable[str]) -> str:
    if content_type in MESSAGE_TYPES:
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        subject = header_text(inner.get("subject"), hints) if isinstance(inner, Message) else ""
        return f"{_safe(subject) or 'message'}.eml"
    if content_type in HEADER_TYPES:
        found = re.search(r"^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)", _text(part), re.I | re.M)
        subject = _safe(header_text(found.group(1), hints)) if found else ""
        return f"{subject} (headers).txt" if subject else "returned headers.txt"
    if content_type.startswith("message/"):
        return f"{content_type.split('/', 1)[1]}.txt"
    found = CONTENT_ID_NAME.match(str(part.get("content-id", "")).strip())
    return found.group(1) if found else ""


def _generated_name(content_type: str, number: int) -> str:
    extension = ".txt" if content_type == "text/plain" else mimetypes.guess_extension(content_type) or ".bin"
    return f"{'image' if content_type.startswith('image/') else 'attachment'}-{number}{extension}"


def _safe(text: str) -> str:
    """A subject as a file name: no characters file systems refuse, not too long, no leading dot."""
    return UNSAFE.sub("_", " ".join(text.split()))[:LONGEST_NAME].lstrip(".")


class _Verbatim(Compat32):
    """Headers written as they came, folding and 8-bit bytes included: an attached message comes out as the
    bytes it was sent as (Compat32 refolds every header through email.header, ten times slower)."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


VERBATIM = _Verbatim(linesep="\n")


def _data(part: Message) -> bytes:
    """The file's bytes: an attached message as a message, a report's header blocks one after another."""
    payload = part.get_payload()
    if part.get_content_type().startswith("message/") and isinstance(payload, list):
        out = BytesIO()
        generator = BytesGenerator(out, mangle_from_=False, policy=VERBATIM)
        for inner in payload:
            if isinstance(inner, Message):
                generator.flatten(inner)
        return out.getvalue()
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text(part: Message) -> str:
    return _data(part).decode("ascii", "surrogateescape")  # 8-bit bytes kept for header_text to read

"""Outlook's winmail.dat (TNEF, MS-OXTNEF) opened into the files it carries.

Outlook sending Rich Text to a recipient it takes for another Outlook (or an Exchange server set to) wraps the
message's files in one application/ms-tnef part that no other mail client opens: a caseworker would get one file
she cannot read. tnefparse reads it. Its framing is checked first (every attribute whole, the last one ending
where the data ends), so that a damaged or cut one is never given out as half a file, and so is what reading it
costs: tnefparse copies the rest of the data at each attribute, which many tiny attributes before a large file
would make endless. What cannot be read stays one file, winmail.dat, as it came; one with no file in it (Exchange
adds such, holding only the message's properties) is no file at all. The raw message keeps its bytes either way.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
NAME = "winmail.dat"
SIGNATURE = 0x223E9F78
# A message with a few hundred files has a few thousand attributes; past these it is no message Outlook wrote.
MAX_ATTRIBUTES = 5_000
MAX_FILES = 500
# What tnefparse's copies may add up to, in bytes: about a quarter of a second. A 25 MB winmail.dat of 20 files
# as Outlook writes it (some six attributes a file) copies about 1.5 GB.
MAX_COPIED = 4_000_000_000
ATTRIBUTE_FRAME = 11  # level (1), id (4), length (4), then the data and a checksum (2)


@dataclass(frozen=True)
class TnefFile:
    name: str  # "" when it has none
    data: bytes


def is_tnef(content_type: str, name: str) -> bool:
    return content_type in TYPES or name.lower() == NAME


def files_inside(data: bytes) -> list[TnefFile] | None:
    """The files in a winmail.dat, in order; None when it cannot be read whole."""
    if not _whole(data):
        return None
    from tnefparse import TNEF  # only when a winmail.dat comes: the parse worker keeps what it imports

    try:
        parsed = TNEF(data, do_checksum=False)
        files = [TnefFile(_name(attachment, parsed.codepage), bytes(attachment.data))
                 for attachment in parsed.attachments]
    except Exception:  # what its reads and decodes raise on data that frames right and says nonsense
        return None
    return files if len(files) <= MAX_FILES else None


def _whole(data: bytes) -> bool:
    if len(data) < 6 or int.from_bytes(data[:4], "little") != SIGNATURE:
        return False
    offset, count, copied = 6, 0, 0
    while offset < len(data):
        copied += len(data) - offset
        if offset + ATTRIBUTE_FRAME > len(data) or count == MAX_ATTRIBUTES or copied > MAX_COPIED:
            return False
        offset += ATTRIBUTE_FRAME + int.from_bytes(data[offset + 5:offset + 9], "little")
        count += 1
    return offset == len(data)


def _name(attachment: Any, codepage: str | None) -> str:
    """Its long file name, else its short one (in the sender's codepage, which tnefparse reads as UTF-8)."""
    try:
        name = attachment.long_filename()
    except UnicodeDecodeError:
        name = attachment._name
    if isinstance(name, bytes):
        name = name.decode(_known(codepage), "replace")
    return " ".join(str(name).replace("\x00", "").split())


def _known(codepage: str | None) -> str:
    try:
        return codecs.lookup(codepage or "cp1252").name
    except LookupError:
        return "cp1252"

"""Bytes to text for mail: the declared charset read the way senders mean it, else detection.

Senders label text with a charset and then write its vendor superset: GB2312 text with GBK characters,
ISO-2022-JP with the NEC and IBM extensions and half-width katakana (Windows CP50221), Shift_JIS as
Windows-31J, Big5 with HKSCS, EUC-KR as Windows-949, ISO-8859-1 as Windows-1252. The WHATWG Encoding
Standard decodes these labels the same way. The declared charset is tried first, so text that is what it
says it is reads exactly as the standard library reads it; its supersets are tried next, then the other
charsets of its language (Japanese labelled ISO-2022-JP is often Shift_JIS: sisimai lhost-postfix-09).

Undeclared 8-bit text (raw 8-bit headers and file names, parts without a charset, text its declared charset
cannot decode) is UTF-8 when it decodes as UTF-8, or nearly (UTF-8 text with a stray byte); else one of the
charsets the message declares elsewhere (a mail client reads raw 8-bit headers in the body's charset); else
Windows-1252 when it looks like Western text (a letter or two at a time between ASCII); else what
charset-normalizer detects among the charsets mail is written in; else Windows-1252.

`header_text` reads a header or parameter value this way, RFC 2047 encoded words included.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Callable, Iterable
from email.header import Header, decode_header
from typing import Any

Decoder = Callable[[bytes], str]

# Labels mail uses that Python's codec registry does not know, or maps to a narrower codec (WHATWG).
ALIASES = {"x-sjis": "cp932", "windows-31j": "cp932", "x-gbk": "gb18030", "x-euc-jp": "euc_jp",
           "ks_c_5601-1987": "cp949", "unicode-1-1-utf-8": "utf-8", "iso-8859-8-i": "iso8859_8"}
# What detection may answer: the charsets mail is written in. Without the list, charset-normalizer also
# considers UTF-16 and DOS code pages, which 8-bit mail text never is.
MAIL_CHARSETS = ["cp1252", "cp1250", "cp1251", "koi8_r", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
                 "gb18030", "big5", "cp932", "euc_jp", "cp949"]
HIGH_RUN = re.compile(rb"[\x80-\xff]+")
CP1252_UNDEFINED = re.compile(rb"([\x81\x8d\x8f\x90\x9d]+)")
# Characters Western text has between ASCII: letters and the typographic marks Windows-1252 adds.
WESTERN_MARKS = frozenset("‘’‚“”„–—…•€«»°¡¿\u00a0·©®™")


def decode(data: bytes, declared: str | None = None, hints: Iterable[str] = ()) -> str:
    """`data` as text: in its declared charset or a superset of it, else as undeclared 8-bit text."""
    if declared:
        for decoder in _decoders(declared):
            try:
                return decoder(data)
            except (UnicodeDecodeError, ValueError):
                continue
    return undeclared(data, hints)


def undeclared(data: bytes, hints: Iterable[str] = ()) -> str:
    """8-bit text with no charset to go by (see the module docstring for the order)."""
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    nearly = _nearly_utf8(data)
    if nearly is not None:
        return nearly
    for hint in hints:
        for decoder in _decoders(hint):
            try:
                return decoder(data)
            except (UnicodeDecodeError, ValueError):
                continue
    western = _western(data)
    if western is not None:
        return western
    from charset_normalizer import from_bytes  # here: rarely needed, and its import takes 60 ms of a start-up

    best = from_bytes(data, cp_isolation=MAIL_CHARSETS).best()
    if best is not None:
        return str(best)
    return _cp1252(data)


def header_text(value: Any, hints: Iterable[str] = ()) -> str:
    """A header as text: RFC 2047 words decoded in their charsets (or a superset); raw 8-bit bytes (the stdlib
    hands them over as an unknown-8bit Header: flanker from-encoding.eml, flufl sina_01) read as undeclared
    text in the light of the charsets the message declares. The pieces are joined as RFC 2047 §6.2 says
    (space between adjacent encoded words dropped)."""
    if value is None:
        return ""
    try:
        chunks = decode_header(value if isinstance(value, Header) else str(value))
        return storable("".join(chunk if isinstance(chunk, str) else
                                 decode(chunk, None if charset == "unknown-8bit" else charset, hints)
                                 for chunk, charset in chunks), hints)
    except (LookupError, UnicodeError, ValueError, binascii.Error):
        return storable(str(value), hints)


def storable(text: str, hints: Iterable[str] = ()) -> str:
    """Text any database column can hold: no NUL (PostgreSQL text refuses it; sisimai lhost-office365-01
    has NULs in its body) and no lone surrogates (8-bit bytes kept as surrogate escapes are read as
    undeclared text)."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return undeclared(raw, hints).replace("\x00", "")


def canonical(label: str) -> str | None:
    """Python's name for a charset label ("ISO-2022-JP" -> "iso2022_jp"), None when unknown."""
    label = label.strip().strip('"').lower()
    try:
        return codecs.lookup(ALIASES.get(label, label)).name
    except (LookupError, ValueError):  # ValueError: a label with a NUL in it
        return None


def _decoders(label: str) -> tuple[Decoder, ...]:
    name = canonical(label)
    if name is None or name == "ascii":
        return ()  # 8-bit text labelled ASCII is undeclared text; ASCII text decodes as anything
    return SUPERSETS.get(name, (_codec(name),))


def _codec(name: str) -> Decoder:
    return lambda data: data.decode(name)


def _nearly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few bad bytes (a name cut inside a character, one Latin-1 byte in UTF-8 text): four good
    characters for every bad one. Latin-1 or GBK text read as UTF-8 has hardly any good ones."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    return text if good >= 4 * bad else None


def _western(data: bytes) -> str | None:
    """Windows-1252 when the 8-bit bytes stand one or two at a time and read as letters or typographic marks
    ("Lütkebohle", "Peña", "ação", "“quoted”"). Other scripts come in longer runs of 8-bit bytes, and a lone
    GBK or Shift_JIS character reads as a mark no Western text has (¼, ´, §), as an upper-case letter before
    a lower-case one ("Äã"), or as two capitals inside a lower-case word ("wÎÒd")."""
    for match in HIGH_RUN.finditer(data):
        run = match.group(0)
        if len(run) > 2:
            return None
        try:
            chars = run.decode("cp1252")
        except UnicodeDecodeError:
            return None
        if any(not char.isalpha() and char not in WESTERN_MARKS for char in chars) or chars in ("ª", "º"):
            return None
        around = data[match.start() - 1:match.start()] + data[match.end():match.end() + 1]
        if len(chars) == 2 and chars[0].isupper() and (chars[1].islower() or any(chr(b).islower() for b in around)):
            return None
    return _cp1252(data)


def _cp1252(data: bytes) -> str:
    """Windows-1252, with the five bytes it leaves undefined read as Latin-1 (their C1 controls). Also what
    ISO-8859-1 means in mail: its 0x80-0x9F are C1 controls no text uses, and senders who label Windows-1252
    text ISO-8859-1 mean its quotes and dashes (WHATWG decodes the label as Windows-1252)."""
    pieces = CP1252_UNDEFINED.split(data)
    return "".join(piece.decode("latin-1" if index % 2 else "cp1252") for index, piece in enumerate(pieces))


ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B|\$\(D)|[\x0e\x0f]")


def _cp50221(data: bytes) -> str:
    """ISO-2022-JP as Windows writes it (CP50221): JIS X 0208 with the NEC row 13 (①, Ⅰ, ㍉) and the IBM
    rows, half-width katakana by ESC ( I or SO/SI. The double-byte runs are moved to Shift_JIS and read as
    Windows-31J, which has every one of those characters."""
    out = bytearray()
    mode = b"(B"
    position = 0
    for match in ESCAPE.finditer(data):
        out += _jis_run(data[position:match.start()], mode)
        escape = match.group(0)
        mode = {b"\x0e": b"(I", b"\x0f": b"(B"}.get(escape, escape[1:])
        position = match.end()
    out += _jis_run(data[position:], mode)
    return out.decode("cp932")


def _jis_run(run: bytes, mode: bytes) -> bytes:
    if mode in (b"(B", b"(J"):
        if not run.isascii():
            raise ValueError("8-bit byte in ISO-2022-JP text")
        return run
    if mode == b"(I":
        return bytes(byte | 0x80 if 0x21 <= byte <= 0x5F else byte for byte in run)
    if mode == b"$(D":
        raise ValueError("JIS X 0212 has no Shift_JIS form")
    out = bytearray()
    index = 0
    while index < len(run):
        row = run[index]
        if row in b"\r\n":  # a line end the sender left inside a double-byte run
            out.append(row)
            index += 1
            continue
        cell = run[index + 1] if index + 1 < len(run) else 0
        if not (0x21 <= row <= 0x7E and 0x21 <= cell <= 0x7E):
            raise ValueError("broken JIS X 0208 pair")
        out += bytes(((row + 1) // 2 + (0x70 if row <= 0x5E else 0xB0),
                      cell + (0x1F + (cell >= 0x60) if row % 2 else 0x7E)))
        index += 2
    return bytes(out)


SUPERSETS: dict[str, tuple[Decoder, ...]] = {
    "gb2312": (_codec("gb2312"), _codec("gb18030")),
    "gbk": (_codec("gbk"), _codec("gb18030")),
    # EUC-JP before Shift_JIS: EUC-JP text often reads as Windows-31J half-width katakana, not the reverse.
    "iso2022_jp": (_codec("iso2022_jp"), _cp50221, _codec("iso2022_jp_2"), _codec("euc_jp"), _codec("cp932")),
    "iso2022_jp_ext": (_codec("iso2022_jp_ext"), _cp50221, _codec("euc_jp"), _codec("cp932")),
    "shift_jis": (_codec("shift_jis"), _codec("cp932"), _codec("shift_jis_2004"), _codec("euc_jp")),
    "cp932": (_codec("cp932"), _codec("shift_jis_2004"), _codec("euc_jp")),
    "euc_jp": (_codec("euc_jp"), _codec("euc_jis_2004"), _codec("cp932")),
    "euc_kr": (_codec("euc_kr"), _codec("cp949")),
    "big5": (_codec("big5"), _codec("big5hkscs"), _codec("cp950")),
    "iso8859-1": (_cp1252,),
}

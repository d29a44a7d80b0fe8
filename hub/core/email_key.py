"""The dedupe key of an email: what makes two deliveries the same message.

Not the Message-ID alone: web forms and scanners reuse one fixed Message-ID for every message they send,
and a key of the Message-ID would call each later one a duplicate and drop it. Not the raw bytes either:
the same message delivered again (to another alias, through another relay, copied between IMAP and a
Maildir) differs in its trace headers and line ends. The key is a hash of what the sender wrote: the
headers below, unfolded with their whitespace collapsed, and the body with its line ends made plain.
Whatever the receiving side adds (Received, Return-Path, Delivered-To, Authentication-Results, …) is left out.

Stored keys must stay comparable across versions: migration 0007 rewrote older keys with this function,
and a change to it needs a migration of its own.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "content:"
# What its sender's side wrote and every copy of the message carries unchanged.
KEPT = frozenset({b"message-id", b"from", b"sender", b"to", b"cc", b"date", b"subject", b"in-reply-to",
                  b"references", b"content-type", b"content-transfer-encoding"})
HEADER_END = re.compile(rb"\r?\n\r?\n")


def content_key(raw: bytes) -> str:
    head, body = _split(raw)
    fields = []
    for line in _unfolded(head):
        name, colon, value = line.partition(b":")
        name = name.strip().lower()
        if colon and name in KEPT:
            fields.append(name + b":" + b" ".join(value.split()))
    digest = hashlib.sha256()
    digest.update(b"\n".join(sorted(fields)))
    digest.update(b"\n\n")
    digest.update(body.replace(b"\r\n", b"\n").rstrip())
    return PREFIX + digest.hexdigest()


def _split(raw: bytes) -> tuple[bytes, bytes]:
    if raw.startswith((b"\r\n", b"\n")):  # no header block at all
        return b"", raw
    end = HEADER_END.search(raw)
    return (raw[:end.start()], raw[end.end():]) if end else (raw, b"")


def _unfolded(head: bytes) -> list[bytes]:
    fields: list[list[bytes]] = []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line.strip())  # joined once below: += on bytes would copy the field each time
        else:
            fields.append([line])
    return [b" ".join(parts) for parts in fields]

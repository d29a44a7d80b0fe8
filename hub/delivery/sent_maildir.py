"""A Maildir folder as the outbound transport of the embedded default (`[outbound] url = "maildir:…"`).

Nothing leaves the machine: each letter is written into the folder's `new/`, where a mail client or a
test reads it, and the file name stands in for the provider's id.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from hub.core.private_files import make_folder

SUBFOLDERS = ("cur", "new", "tmp")


def file_name(message_id: str) -> str:
    """The Maildir file name of a message: a hash of its Message-ID (angle brackets and blanks ignored).

    A Message-ID may hold `/` or `:`, which a Maildir name must not; the hash never does."""
    key = message_id.strip().removeprefix("<").removesuffix(">").strip()
    if not key:
        raise ValueError("a message delivered to the sent folder needs a Message-ID")
    return "hub-" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def deliver(folder: Path, raw: bytes, message_id: str) -> str:
    """Write one message into the Maildir `folder` (tmp/ then new/) and return its file name.

    The name comes from the Message-ID, not from the clock and pid as Maildir usually has it, because
    the outbox may deliver the same row again: a process killed after this write but before its commit
    retries the row, and the second delivery must find the first instead of making a copy. A file
    already in `new/`, or moved to `cur/` by a mail client (which appends `:2,FLAGS`), counts as
    delivered; the call then writes nothing and returns the same name.
    """
    name = file_name(message_id)
    for sub in SUBFOLDERS:
        make_folder(folder / sub)
    if is_delivered(folder, name):
        return name
    temporary = folder / "tmp" / f"{name}.{os.getpid()}.{threading.get_ident()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        # link() rather than rename(): it refuses to replace a file, so two processes delivering the
        # same message at once still leave exactly one.
        os.link(temporary, folder / "new" / name)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    _sync_folder(folder / "new")
    return name


def is_delivered(folder: Path, name: str) -> bool:
    if (folder / "new" / name).exists():
        return True
    cur = folder / "cur"
    return (cur / name).exists() or any(cur.glob(f"{name}:*"))


def _sync_folder(path: Path) -> None:
    """fsync a directory so the new entry survives a crash of the machine, not only of the process."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

"""The export archive's layout, and the writer that streams it entry by entry with a checksum for each.

    manifest.json                       format, version, the office, the cases, and per entry its SHA-256
    cases/<REF>/case.json               the case, its constituent (with further contacts) and former references
    cases/<REF>/messages.json           every message's fields; `eml` and each attachment's `file` name entries
    cases/<REF>/events.json, reminders.json, releases.json
    cases/<REF>/timeline.pdf            the case for people to read
    cases/<REF>/messages/0001.eml       a message exactly as it arrived (or as the hub sent it)
    cases/<REF>/files/0001-1-<name>     an attachment's bytes

The manifest is the last entry: it is written when every checksum is known.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

FORMAT = "casework-hub-export"
VERSION = 1
MANIFEST = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def case_folder(ref: str) -> str:
    return f"cases/{_UNSAFE.sub('_', ref)[:40]}/"


def file_name(folder: str, message_number: int, attachment_number: int, filename: str) -> str:
    """A readable name for an attachment's entry; only a label (an import never uses it as a path)."""
    safe = _UNSAFE.sub("_", filename).strip("._")[-80:] or "file"
    return f"{folder}files/{message_number:04d}-{attachment_number}-{safe}"


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()


class ArchiveWriter:
    """A ZIP written to `path` entry by entry, through a file of its own beside it (`.NAME.XXXX.partial`, 0600
    as mkstemp makes it) renamed at the end: an export that fails leaves no half archive under the name asked
    for, and two exports to one name cannot write into each other."""

    def __init__(self, path: Path, now: datetime) -> None:
        self.path = path
        descriptor, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        self._partial = Path(partial)
        self._handle = os.fdopen(descriptor, "wb")
        self._zip = zipfile.ZipFile(self._handle, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._stamp = now.timetuple()[:6]
        self.files: dict[str, dict[str, Any]] = {}

    def add(self, name: str, data: bytes) -> str:
        entry = zipfile.ZipInfo(name, date_time=max(self._stamp, (1980, 1, 1, 0, 0, 0)))
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = 0o600 << 16  # unzipped, the files are the reader's alone
        with self._zip.open(entry, "w", force_zip64=len(data) > 2**31) as out:
            out.write(data)
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        return name

    def finish(self, manifest: dict[str, Any]) -> None:
        self.add(MANIFEST, to_json({"format": FORMAT, "version": VERSION, **manifest, "files": self.files}))
        self._zip.close()
        self._handle.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        try:
            self._zip.close()
        finally:
            self._handle.close()
            self._partial.unlink(missing_ok=True)

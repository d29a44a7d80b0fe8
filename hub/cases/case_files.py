"""The files on a case (what its messages carried), listed or written out for a caseworker, each under
a name of its own that cannot leave the folder it is written to; and the files a caseworker names
(`#attach`) by those names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.cases.casework import CaseworkError
from hub.core.file_store import attachment_bytes, bytes_are_kept
from hub.core.models import Attachment, Case, Message
from hub.core.private_files import make_folder, write_file

# What a file's name may keep: letters, digits, and . _ - and space; anything else becomes "_".
UNSAFE = re.compile(r"[^\w. -]+")
# Between the names a caseworker lists: spaces or commas (a name may hold spaces itself).
BETWEEN_NAMES = " ,;"
# Asked for every caseworker's reply the intake files (hub.intake.reply_files): built once.
_FILES_OF_CASE = (select(Attachment.id, Attachment.filename, Attachment.content_type, Attachment.size,
                         Attachment.oversized, bytes_are_kept(), Message.at, Message.id)
                  .join(Message, Message.id == Attachment.message_id)
                  .where(Message.case_id == bindparam("case_id")).order_by(Message.at, Attachment.id))


@dataclass(frozen=True)
class CaseFile:
    attachment_id: int
    name: str  # unique on the case, safe as a file name
    content_type: str
    size: int
    kept: bool  # False: too large, kept by name and size only, or removed by retention (hub.cases.retention)
    at: str  # when its message came, ISO 8601
    message_id: int  # the row of the message that carried it
    filename: str  # as its sender named it (what hub case show lists)
    oversized: bool = False

    @property
    def missing(self) -> str:
        """Why the hub has not the file's bytes; "" when it has them."""
        if self.kept:
            return ""
        return "too large, the hub kept only its name and size" if self.oversized else \
            "removed under the office's retention policy, only its type and size are kept"


def case_files(session: Session, case: Case) -> list[CaseFile]:
    """Every file the case's messages carried, oldest first, named so that no two are alike (their bytes
    stay in the database: a case's files can be hundreds of megabytes)."""
    rows = session.execute(_FILES_OF_CASE, {"case_id": case.id})
    taken: set[str] = set()
    return [CaseFile(row_id, _unique(_safe(filename) or f"attachment-{row_id}", taken), content_type, size,
                     held and not oversized, at.isoformat(), message_id, filename or "", oversized)
            for row_id, filename, content_type, size, oversized, held, at, message_id in rows]


def files_named(files: list[CaseFile], names: str, command: str = "#attach") -> list[CaseFile]:
    """The files `names` lists, each by its name on the case (or as its sender named it: the newest of that
    name), in order, once each; CaseworkError naming the first it does not know and the case's files."""
    known: dict[str, CaseFile] = {}
    for file in files:  # oldest first: a sender's name shared by two files ends naming the newest
        known[file.filename.lower()] = file
    known.update((file.name.lower(), file) for file in files)
    known.pop("", None)
    chosen: list[CaseFile] = []
    rest = names.strip(BETWEEN_NAMES)
    while rest:
        name = _longest_name_at(rest, known)
        if name is None:
            unknown = rest[:_next_name_at(rest, known)].strip(BETWEEN_NAMES)
            listed = ", ".join(file.name for file in files)
            raise CaseworkError(f"{command} {unknown}: no file of that name on the case " +
                                (f"(its files: {listed})" if files else "(it has no files)"))
        if known[name] not in chosen:
            chosen.append(known[name])
        rest = rest[len(name):].strip(BETWEEN_NAMES)
    return chosen


def _longest_name_at(text: str, known: dict[str, CaseFile]) -> str | None:
    """The longest known name `text` starts with, followed by its end or a separator."""
    lowered = text.lower()
    found = [name for name in known if lowered.startswith(name) and lowered[len(name):][:1] in ("", *BETWEEN_NAMES)]
    return max(found, key=len, default=None)


def _next_name_at(text: str, known: dict[str, CaseFile]) -> int:
    """Where the next known name after the first character starts, or the end of `text`."""
    for index in range(1, len(text)):
        if text[index - 1] in BETWEEN_NAMES and _longest_name_at(text[index:], known) is not None:
            return index
    return len(text)


def write_case_files(session: Session, files: list[CaseFile], folder: Path) -> list[Path]:
    """Write the files the hub holds into `folder` (made 0700, each file 0600), one at a time; returns
    their paths."""
    make_folder(folder)
    written = []
    for file in files:
        attachment = session.get(Attachment, file.attachment_id) if file.kept else None
        data = attachment_bytes(session, attachment) if attachment is not None else None
        if data is not None:
            write_file(folder / file.name, data)
            written.append(folder / file.name)
    return written


def _safe(name: str) -> str:
    base = UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip(" .")
    return base[:200]


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem} ({number}){dot}{suffix}"
    taken.add(candidate.lower())
    return candidate

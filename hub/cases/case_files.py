"""The files on a case (what its messages carried), listed or written out for a caseworker, each under
a name of its own that cannot leave the folder it is written to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.models import Attachment, Case, Message
from hub.core.private_files import make_folder, write_file

# What a file's name may keep: letters, digits, and . _ - and space; anything else becomes "_".
UNSAFE = re.compile(r"[^\w. -]+")


@dataclass(frozen=True)
class CaseFile:
    attachment_id: int
    name: str  # unique on the case, safe as a file name
    content_type: str
    size: int
    kept: bool  # False: too large, kept by name and size only
    at: str  # when its message came, ISO 8601


def case_files(session: Session, case: Case) -> list[CaseFile]:
    """Every file the case's messages carried, oldest first, named so that no two are alike (their bytes
    stay in the database: a case's files can be hundreds of megabytes)."""
    rows = session.execute(select(Attachment.id, Attachment.filename, Attachment.content_type, Attachment.size,
                                  Attachment.oversized, Attachment.data.is_not(None), Message.at)
                           .join(Message, Message.id == Attachment.message_id)
                           .where(Message.case_id == case.id).order_by(Message.at, Attachment.id))
    taken: set[str] = set()
    return [CaseFile(row_id, _unique(_safe(filename) or f"attachment-{row_id}", taken), content_type, size,
                     held and not oversized, at.isoformat())
            for row_id, filename, content_type, size, oversized, held, at in rows]


def write_case_files(session: Session, files: list[CaseFile], folder: Path) -> list[Path]:
    """Write the files the hub holds into `folder` (made 0700, each file 0600), one at a time; returns
    their paths."""
    make_folder(folder)
    written = []
    for file in files:
        data = session.scalar(select(Attachment.data).where(Attachment.id == file.attachment_id)) \
            if file.kept else None
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

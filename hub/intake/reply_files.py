"""The files a caseworker's reply sends on: those her own message carries (they go with her text, to the
agency or to the constituent) and those her `#attach` lines name from the case (with her text, or with
the letters her `#send` lines queue). As many as fit in `[letters] notice_attachment_bytes` go, in
order; the rest are named in her confirmation, never dropped without a word. Her signature's picture, which
her mail client shows inside every message she writes, is hers and not the case's: it goes only when named."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from hub.cases.case_files import CaseFile, case_files, files_named
from hub.core.models import Case
from hub.letters.enclosures import described, signature_pictures, spoken_size, within_budget

BY_TEXT = "a text message carries no files"


@dataclass(frozen=True)
class ReplyFiles:
    going: tuple[CaseFile, ...] = ()
    left: tuple[tuple[CaseFile, str], ...] = ()  # a file that does not go, and why

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(file.attachment_id for file in self.going)

    def with_names(self) -> str:
        """`, with a.pdf, b.png` for the line that says where her text or a letter went."""
        return ", with " + ", ".join(file.name for file in self.going) if self.going else ""

    def left_lines(self) -> list[str]:
        return [f"{described(file.name, file.content_type, file.size)} was not sent: {why}" for file, why in self.left]


@dataclass(frozen=True)
class Chosen:
    """The case's files her reply names or carries, before the budget is applied."""

    own: tuple[CaseFile, ...]       # her message's files
    attached: tuple[CaseFile, ...]  # what #attach named, in order

    def for_text(self) -> tuple[CaseFile, ...]:
        return tuple(dict.fromkeys(self.own + self.attached))


def chosen_files(session: Session, case: Case, attach_lines: list[str], message_row_id: int) -> Chosen:
    """Her message's files and those her #attach lines name (CaseworkError for a name the case does not have)."""
    files = case_files(session, case)
    attached: list[CaseFile] = []
    for names in attach_lines:
        attached += [file for file in files_named(files, names, "#attach") if file not in attached]
    own = [file for file in files if file.message_id == message_row_id]
    signature = signature_pictures(session, message_row_id) if own else set()  # most replies carry no file
    return Chosen(tuple(file for file in own if file.attachment_id not in signature), tuple(attached))


def sendable(files: tuple[CaseFile, ...], budget: int, by_text: bool = False) -> ReplyFiles:
    """Which of `files` go with one message of at most `budget` bytes of files; the rest with the reason."""
    if by_text:
        return ReplyFiles((), tuple((file, BY_TEXT) for file in files))
    fitting = within_budget([(file.size, file.kept) for file in files], budget)
    going = tuple(file for file, fits in zip(files, fitting, strict=True) if fits)
    left = tuple((file, file.missing or
                  f"too large to send (the files of one message may add up to {spoken_size(budget)}: "
                  "[letters] notice_attachment_bytes)") for file, fits in zip(files, fitting, strict=True) if not fits)
    return ReplyFiles(going, left)

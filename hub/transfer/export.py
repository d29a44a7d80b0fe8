"""`hub case export REF --out PATH` and `hub export --out PATH`: one case, or every case of the office, as a
ZIP archive (hub.transfer.archive_format), for the record, a transition to another office or an archive.

Case by case and message by message: each message's bytes go into the archive and are let go before the
next is read, so an office of thousands of cases exports in the memory of one message (and one case's
fields). Reading is one transaction, so the archive is one consistent moment of the office.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.views import find_case
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.core.models import Case
from hub.transfer import case_record
from hub.transfer.archive_format import ArchiveWriter, case_folder, file_name, to_json


@dataclass(frozen=True)
class Exported:
    path: Path
    cases: int
    messages: int
    files: int
    warnings: tuple[str, ...]


def export_case(hub: Hub, ref: str, out: Path) -> Exported:
    with hub.sessions() as session:
        case = find_case(session, hub.refs, ref)
        return _export(hub, session, [case.id], out, "case")


def export_office(hub: Hub, out: Path) -> Exported:
    with hub.sessions() as session:
        return _export(hub, session, list(session.scalars(select(Case.id).order_by(Case.id))), out, "office")


def _export(hub: Hub, session: Session, case_ids: list[int], out: Path, scope: str) -> Exported:
    if out.is_dir():
        raise UserError(f"{out} is a folder; --out names the archive to write (e.g. {out / 'export.zip'})")
    if not out.parent.is_dir():
        raise UserError(f"no folder {out.parent} to write {out.name} in")
    now = hub.clock.now()
    writer = ArchiveWriter(out, now)
    listed: list[dict[str, str]] = []
    counts = {"messages": 0, "files": 0}
    try:
        for case_id in case_ids:
            case = session.get_one(Case, case_id)
            listed.append({"ref": case.ref, "folder": _write_case(hub, session, case, writer, counts)})
            session.expunge_all()  # one case's rows at a time
        writer.finish({"scope": scope, "exported_at": now.isoformat(), "office": {
            "name": hub.config.office.name, "reference_prefix": hub.config.office.reference_prefix,
            "address": hub.config.office.address}, "cases": listed})
    except BaseException:
        writer.abort()
        raise
    # Imported here, when an export runs: fpdf and fontTools take a fifth of a second to import, which every
    # other `hub` command (a monitor's `hub status` each minute) would pay.
    from hub.transfer import timeline

    warnings = () if timeline.unicode_fonts() else (timeline.NO_UNICODE_FONT,)
    return Exported(out, len(listed), counts["messages"], counts["files"], warnings)


def _write_case(hub: Hub, session: Session, case: Case, writer: ArchiveWriter, counts: dict[str, int]) -> str:
    folder = case_folder(case.ref)
    fields = case_record.case_fields(session, case)
    numbers: dict[int, int] = {}
    files: dict[int, tuple[int, int]] = {}
    messages: list[dict[str, Any]] = []
    for row_id, message in case_record.messages(session, case, folder, writer.add, partial(file_name, folder)):
        numbers[row_id] = message["number"]
        for attachment in message["attachments"]:
            files[attachment.pop("attachment_id")] = (message["number"], attachment["number"])
            counts["files"] += attachment["file"] is not None
        messages.append(message)
    counts["messages"] += len(messages)
    events = case_record.events(session, case, numbers)
    reminders = case_record.reminders(session, case)
    releases = case_record.releases(session, case, numbers, files)
    for name, value in (("case", fields), ("messages", messages), ("events", events), ("reminders", reminders),
                        ("releases", releases)):
        writer.add(f"{folder}{name}.json", to_json(value))
    from hub.transfer import timeline  # when an export runs (see _export)

    writer.add(f"{folder}timeline.pdf", timeline.render(fields, messages, events, reminders, releases,
                                                        hub.config.office.name, hub.config.office.timezone))
    return folder


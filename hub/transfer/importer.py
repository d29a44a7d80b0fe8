"""`hub import PATH`: an export archive read into this office, one transaction per case.

A case whose entries fail their checksums or whose record does not hold is reported and skipped; the others
land. A case imported before (its old reference is already forwarded here) is left as it is, so importing
the same archive twice changes nothing. Merges between imported cases are linked once every case is in.
Nothing is sent, queued or scheduled: reminders keep their own days and states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from hub.cases.forwarding import forwarded_case
from hub.core.app import Hub
from hub.core.models import Case
from hub.transfer.archive_reader import Archive, Damaged
from hub.transfer.case_import import import_case


@dataclass
class ImportSummary:
    imported: list[tuple[str, str]] = field(default_factory=list)  # (old reference, reference here)
    already: list[tuple[str, str]] = field(default_factory=list)  # imported before: (old, here)
    skipped: list[str] = field(default_factory=list)  # one line each: a case that could not be imported
    notes: list[str] = field(default_factory=list)  # kept, but worth a look

    def as_json(self) -> dict[str, Any]:
        return {"imported": [{"old_ref": old, "ref": new} for old, new in self.imported],
                "already_imported": [{"old_ref": old, "ref": new} for old, new in self.already],
                "skipped": self.skipped, "notes": self.notes}


def import_archive(hub: Hub, path: Path) -> ImportSummary:
    archive = Archive(path)
    try:
        return _import(hub, archive)
    finally:
        archive.close()


def _import(hub: Hub, archive: Archive) -> ImportSummary:
    office = archive.manifest.get("office")
    origin = str(office.get("name") or "another office") if isinstance(office, dict) else "another office"
    summary = ImportSummary()
    merges: list[tuple[str, str]] = []
    for listed in archive.manifest["cases"]:
        old_ref, folder = listed["ref"], listed["folder"]
        try:
            with hub.sessions.begin() as session:
                old_ref, ref, fresh = import_case(session, hub, archive, folder, origin, hub.clock.now(),
                                                  summary.notes.append)
                merged_into = archive.json(f"{folder}case.json").get("merged_into")
        except Damaged as error:
            summary.skipped.append(f"{old_ref}: not imported: {error}")
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            summary.skipped.append(f"{old_ref}: not imported: its record does not hold ({type(error).__name__}: "
                                   f"{error})")
            continue
        except DBAPIError as error:
            summary.skipped.append(f"{old_ref}: not imported: the database refused it "
                                   f"({str(error.orig).strip().splitlines()[0][:200]})")
            continue
        (summary.imported if fresh else summary.already).append((old_ref, ref))
        if fresh and isinstance(merged_into, str):
            merges.append((ref, merged_into))
    for ref, into in merges:
        _link_merge(hub, ref, into, summary)
    return summary


def _link_merge(hub: Hub, ref: str, into: str, summary: ImportSummary) -> None:
    """The imported case `ref` was merged into `into` (an old reference): it points at that case here."""
    with hub.sessions.begin() as session:
        target = forwarded_case(session.connection(), into)
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        if target is None or target == case.id:
            summary.notes.append(f"{ref}: was merged into {into}, which is not in this office; mail quoting "
                                 f"{ref}'s old reference goes to {ref}")
            return
        case.merged_into_id = target

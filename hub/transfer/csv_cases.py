"""`hub import --csv FILE`: open cases from another system, loaded in one transaction when every row holds
(hub.transfer.csv_rows), nothing when one does not. Each row is a case under a new reference of this office;
its `reference` is forwarded (mail quoting it threads to the case when it has a reference's shape) and makes a
second run of the same file skip the row. Nothing is sent and nothing scheduled.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from hub.cases.forwarding import forwarded_case, keep_forwarded
from hub.cases.numbering import next_reference
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.core.models import Case, Event
from hub.transfer.csv_rows import Row, read_rows
from hub.transfer.importer import ImportSummary
from hub.transfer.parties import constituent_for


def import_csv(hub: Hub, path: Path) -> ImportSummary:
    rows, problems = read_rows(path, hub.config)
    if problems:  # one line each, as the command line prints an error
        total = f"{len(problems)} bad row{'s' if len(problems) > 1 else ''}; nothing was imported"
        raise UserError("\nhub: ".join([*problems, total]))
    summary = ImportSummary()
    now = hub.clock.now()
    origin = path.name
    with hub.sessions.begin() as session:
        connection = session.connection()
        for row in rows:
            here = forwarded_case(connection, row.reference) if row.reference else None
            if here is not None:
                summary.already.append((row.reference, session.get_one(Case, here).ref))
                continue
            opened = row.opened or now
            year = opened.astimezone(ZoneInfo(hub.config.office.timezone)).year
            party = constituent_for(session, row.name, row.email, row.phone, row.address, row.zip_code, (), now)
            case = Case(ref=next_reference(connection, hub.refs, year), status=row.status, labels=[],
                        assignee=row.assignee, agency=row.agency, subject=row.subject or _subject(row),
                        constituent_id=party.id, opened_at=opened, updated_at=now,
                        closed_at=now if row.status == "closed" else None,
                        contact_channel="email" if row.email or not row.phone else "sms")
            session.add(case)
            session.flush()
            if row.reference:
                keep_forwarded(connection, hub.refs, row.reference, case, origin, now, summary.notes.append)
            detail = f"imported from {origin}, row {row.number}" + (f": was {row.reference}" if row.reference else "")
            session.add(Event(case_id=case.id, kind="imported", detail=detail, actor="hub", via="cli", at=now))
            if row.notes:
                session.add(Event(case_id=case.id, kind="note", detail=row.notes, actor="import", via="cli", at=now))
            _strangers(hub, case, row, summary)
            summary.imported.append((row.reference or f"row {row.number}", case.ref))
    return summary


def _subject(row: Row) -> str:
    first = row.notes.strip().splitlines()[0] if row.notes.strip() else ""
    return first[:200] or "Imported case"


def _strangers(hub: Hub, case: Case, row: Row, summary: ImportSummary) -> None:
    if row.agency and hub.config.agency(row.agency) is None:
        summary.notes.append(f"{case.ref} (row {row.number}): agency {row.agency!r} is not in this office's "
                             "agencies.toml; kept")
    if not row.assignee_known:
        summary.notes.append(f"{case.ref} (row {row.number}): assignee {row.assignee!r} is not on this office's "
                             "staff list; kept")

"""The rows of another system's CSV of open cases, read and checked: every bad value is one line naming its
row and column, and a file with any bad row is not loaded at all (hub.transfer.csv_cases).

Columns (a header row names them; any order, any case; all but one of name/email/phone may be left out):
reference, name, email, phone, address, zip, agency, status, opened, assignee, subject, notes. Dates are ISO
8601 (2026-11-23, or with a time) or the US order MM/DD/YYYY.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.cases.casework import STATUSES, CaseworkError
from hub.cases.contacts import normalised
from hub.core.config import Config
from hub.core.config_values import person_named
from hub.core.errors import UserError
from hub.core.refs import token_key

COLUMNS = ("reference", "name", "email", "phone", "address", "zip", "agency", "status", "opened", "assignee",
           "subject", "notes")
MAX_FIELD = 1_000_000
LIMITS = {"reference": 200, "name": 200, "address": 10_000, "zip": 16, "agency": 32, "assignee": 320,
          "subject": 100_000, "notes": MAX_FIELD}


@dataclass(frozen=True)
class Row:
    number: int  # as a spreadsheet counts it: the header is row 1
    reference: str
    name: str
    email: str | None
    phone: str | None
    address: str | None
    zip_code: str | None
    agency: str | None
    status: str
    opened: datetime | None
    assignee: str | None
    assignee_known: bool
    subject: str
    notes: str


def read_rows(path: Path, config: Config) -> tuple[list[Row], list[str]]:
    """(the rows, one line per problem): rows are only worth loading when there is no problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"no file {path}") from None
    except (UnicodeDecodeError, OSError) as error:
        raise UserError(f"{path} cannot be read as UTF-8 text ({error})") from None
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise UserError(f"{path} is empty (the first row names the columns: {', '.join(COLUMNS)})") from None
    except csv.Error as error:
        raise UserError(f"{path}, row 1: {error}") from None
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or len(set(header)) != len(header):
        problem = f"unknown column {unknown[0]!r}" if unknown else "a column named twice"
        raise UserError(f"{path}, row 1: {problem} (columns: {', '.join(COLUMNS)})")
    rows, problems, seen = [], [], dict[str, int]()
    zone = ZoneInfo(config.office.timezone)
    try:
        for number, values in enumerate(reader, 2):
            if not any(value.strip() for value in values):
                continue
            cells = {name: " ".join(value.split()) if name not in ("notes", "address") else value.strip()
                     for name, value in zip(header, values, strict=False)}
            try:
                row = _row(number, cells, len(values) > len(header), config, zone)
            except CaseworkError as error:
                problems.append(f"{path}, {error}")
                continue
            key = token_key(row.reference)
            if row.reference and key in seen:
                problems.append(f"{path}, row {number}, column reference: {row.reference!r} is also on row "
                                f"{seen[key]}")
                continue
            seen[key] = number
            rows.append(row)
    except csv.Error as error:
        problems.append(f"{path}, row {reader.line_num}: {error}")
    return rows, problems


def _row(number: int, cells: dict[str, str], extra: bool, config: Config, zone: ZoneInfo) -> Row:
    def bad(column: str, why: str) -> CaseworkError:
        return CaseworkError(f"row {number}, column {column}: {why}")

    if extra:
        raise CaseworkError(f"row {number}: more values than the header has columns")
    for column, limit in LIMITS.items():
        if len(cells.get(column, "")) > limit:
            raise bad(column, f"longer than {limit:,} characters")
    email, phone = cells.get("email") or None, cells.get("phone") or None
    try:
        email = normalised(email, "email")[1] if email else None
    except CaseworkError:
        raise bad("email", f"{email!r} is not an email address") from None
    try:
        phone = normalised(phone, "phone")[1] if phone else None
    except CaseworkError:
        raise bad("phone", f"{phone!r} is not a phone number") from None
    if not (cells.get("name") or email or phone):
        raise CaseworkError(f"row {number}: no constituent (a name, an email or a phone)")
    status = (cells.get("status") or "open").lower()
    if status not in STATUSES:
        raise bad("status", f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    try:
        opened = _moment(cells.get("opened", ""), zone)
    except ValueError:
        raise bad("opened", f"{cells['opened']!r} is not a date (2026-11-23, 2026-11-23T09:30 or 11/23/2026)") \
            from None
    assignee, staff = cells.get("assignee") or None, None
    if assignee:
        staff = next((p for p in config.staff if p.email.lower() == assignee.lower()), None) or \
            person_named(config.staff, assignee)
    return Row(number, cells.get("reference", ""), cells.get("name", ""), email, phone, cells.get("address") or None,
               cells.get("zip") or None, (cells.get("agency") or "").lower() or None, status,
               opened, staff.email if staff else assignee, staff is not None or not assignee,
               cells.get("subject", ""), cells.get("notes", ""))


def _moment(text: str, zone: ZoneInfo) -> datetime | None:
    """The time `text` names (a day: its start, office time); None when empty; ValueError when it names none."""
    if not text:
        return None
    if "/" in text:
        return datetime.combine(datetime.strptime(text, "%m/%d/%Y").date(), time(), zone)
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), zone)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)

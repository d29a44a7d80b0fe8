"""The weekly report's figures as plain text for a mail client, and as a CSV for a spreadsheet.

The CSV is tidy: one number a row, with the columns

    section,item,measure,this_week,same_week_last_year

`section` is week, cases, age, first_response, agency, issue_area or caseworker; `item` what the row is
about (an agency's name, a label, a caseworker, an age bucket, or `all`); `measure` the number's name
(opened, closed, pending, median_days, cases, median_hours, without_response, open, overdue_reminders;
`label` on the one week row, whose values are the two weeks' ISO labels). `same_week_last_year` is
filled only for the case counts and the week row; a median with no cases behind it is empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hub.reports.figures import Ranked, WeeklyFigures

Row = tuple[str, ...]


def title(figures: WeeklyFigures) -> str:
    return f"Weekly casework report, {figures.week.label} ({figures.week.dates()})"


def report_text(figures: WeeklyFigures, office_name: str) -> str:
    week, last_year, now, then = figures.week, figures.last_year, figures.counts, figures.counts_last_year
    lines = [title(figures), office_name,
             f"Weeks run Monday to Sunday, {week.timezone} time. Pending: open at the end of the week.", ""]
    lines += _table(("Cases", week.label, last_year.label), [
        ("opened", str(now.opened), str(then.opened)),
        ("closed", str(now.closed), str(then.closed)),
        ("pending", str(now.pending), str(then.pending))],
        f"{last_year.label} is the same week a year before.")
    lines += _table(("Pending cases by age", "cases"),
                    [(f"{bucket} days", str(count)) for bucket, count in figures.ages]
                    + [("median age in days", _decimal(figures.median_age_days))])
    lines += _table(("First response", ""), [
        ("cases first answered this week", str(figures.first_responses)),
        ("median hours from opening", _decimal(figures.median_response_hours)),
        ("pending cases not answered yet", str(figures.pending_without_response))],
        "A response is a caseworker's reply or a letter a person sent; the acknowledgement does not count.")
    lines += _table(("Top agencies", "pending", "opened"), _ranked(figures.agencies))
    lines += _table(("Top issue areas", "pending", "opened"), _ranked(figures.issue_areas))
    lines += _table(("Caseworkers", "open", "overdue"),
                    [(row.name, str(row.open_cases), str(row.overdue_reminders)) for row in figures.workloads],
                    "Overdue: follow-up and check-in reminders due before the end of the week and still pending then.")
    return "\n".join(lines).rstrip() + "\n"


CSV_HEADER = ("section", "item", "measure", "this_week", "same_week_last_year")


def report_csv(figures: WeeklyFigures) -> bytes:
    rows: list[Row] = [CSV_HEADER, ("week", "iso_week", "label", figures.week.label, figures.last_year.label),
                       *((*row[:3], *(_cell(value) for value in row[3:])) for row in _figure_rows(figures))]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180 line ends
    return buffer.getvalue().encode()


def report_json(figures: WeeklyFigures) -> dict[str, Any]:
    """The CSV's rows for a script: the same names, numbers as numbers and an empty cell as null."""
    week = figures.week
    return {"week": week.label, "start": week.monday.isoformat(), "end": (week.monday + timedelta(days=6)).isoformat(),
            "same_week_last_year": figures.last_year.label,
            "rows": [dict(zip(CSV_HEADER, (*row[:3], *(_rounded(value) for value in row[3:])), strict=True))
                     for row in _figure_rows(figures)]}


Value = int | float | None
FigureRow = tuple[str, str, str, Value, Value]


def _rounded(value: Value) -> Value:
    """A median as the CSV shows it: one decimal."""
    return float(_decimal(value)) if isinstance(value, float) else value


def _cell(value: Value) -> str:
    return _decimal(value, "") if isinstance(value, float) or value is None else str(value)


def _figure_rows(figures: WeeklyFigures) -> list[FigureRow]:
    now, then = figures.counts, figures.counts_last_year
    rows: list[FigureRow] = [
        ("cases", "all", "opened", now.opened, then.opened),
        ("cases", "all", "closed", now.closed, then.closed),
        ("cases", "all", "pending", now.pending, then.pending),
        ("age", "all", "median_days", figures.median_age_days, None),
        *(("age", bucket, "cases", count, None) for bucket, count in figures.ages),
        ("first_response", "all", "cases", figures.first_responses, None),
        ("first_response", "all", "median_hours", figures.median_response_hours, None),
        ("first_response", "pending", "without_response", figures.pending_without_response, None),
    ]
    for section, ranked in (("agency", figures.agencies), ("issue_area", figures.issue_areas)):
        for item in ranked:
            rows += [(section, item.name, "pending", item.pending, None),
                     (section, item.name, "opened", item.opened, None)]
    for load in figures.workloads:
        rows += [("caseworker", load.name, "open", load.open_cases, None),
                 ("caseworker", load.name, "overdue_reminders", load.overdue_reminders, None)]
    return rows


def _ranked(rows: Sequence[Ranked]) -> list[Row]:
    return [(row.name, str(row.pending), str(row.opened)) for row in rows]


def _decimal(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"{value:.1f}"


def _table(heading: Row, rows: Sequence[Row], note: str = "") -> list[str]:
    """A heading, a rule, indented rows (labels left, numbers right under their heads), an optional note."""
    body: list[Row] = [(f"  {row[0]}", *row[1:]) for row in rows] or [("  (none)",)]
    widths = [max(len(row[column]) for row in (heading, *body) if column < len(row))
              for column in range(len(heading))]
    lines = []
    for row in (heading, *body):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=False)]
        lines.append("   ".join(cells).rstrip())
    lines.insert(1, "-" * sum(widths + [3] * (len(widths) - 1)))
    return [*lines, *([f"  {note}"] if note else []), ""]

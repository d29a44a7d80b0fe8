"""The weekly report as HTML that Outlook renders: tables for layout, inline styles, PNG charts, no script, no
SVG and nothing fetched from elsewhere.

Every chart is followed by its numbers as a table, so a reader whose client blocks images loses nothing;
each image has alt text and its width and height (600 pixels wide, Outlook's reading pane). Where an
image comes from is the caller's choice (`source`): `cid:` for the mail's related parts, `data:` for a file
a browser opens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from hub.reports.agency_answers import AgencyAnswers
from hub.reports.charts import SHOWN_WIDTH, Chart
from hub.reports.figures import WeeklyFigures
from hub.reports.text import title
from hub.reports.year import YearSeries

FONT = "font-family:Segoe UI,Arial,Helvetica,sans-serif;"
CELL = f"{FONT}font-size:13px;color:#222222;padding:3px 6px;border-bottom:1px solid #e4e4e4;"
HEAD = f"{FONT}font-size:12px;color:#555555;padding:3px 6px;border-bottom:1px solid #999999;font-weight:bold;"
SHOWN_OVERDUE = 20
Cells = Sequence[object]


def report_html(figures: WeeklyFigures, year: YearSeries, answers: AgencyAnswers, charts: Sequence[Chart],
                office_name: str, source: Callable[[Chart], str]) -> str:
    drawn = {chart.name: chart for chart in charts}

    def image(name: str) -> str:
        chart = drawn.get(name)
        if chart is None:
            return ""
        return (f'<tr><td style="padding:8px 0 4px 0;"><img src="{escape(source(chart))}" width="{SHOWN_WIDTH}" '
                f'height="{chart.shown_height}" alt="{escape(chart.alt)}" '
                f'style="display:block;width:{SHOWN_WIDTH}px;height:auto;border:0;"></td></tr>')

    week, now, then = figures.week, figures.counts, figures.counts_last_year
    sections = [
        _heading(title(figures), 18) + _paragraph(
            f"{office_name}. Weeks run Monday to Sunday, {week.timezone} time. Open: open at the end of the week."),
        _heading("Cases") + _table(("", week.label, f"{figures.last_year.label} (a year before)"), [
            ("opened", now.opened, then.opened), ("closed", now.closed, then.closed),
            ("open", now.pending, then.pending)]),
        _heading("Opened and closed, week by week") + image("year") + _paragraph(
            "The numbers behind the chart are at the end of the report."),
        _heading("Open cases by age") + image("ages") + _table(
            ("age", "cases"), [(f"{bucket} days", count) for bucket, count in figures.ages]
            + [("median age in days", _decimal(figures.median_age_days))]),
        _heading("First response") + _table(("", ""), [
            ("cases first answered this week", figures.first_responses),
            ("median hours from opening", _decimal(figures.median_response_hours)),
            ("open cases not answered yet", figures.pending_without_response)]) + _paragraph(
            "A response is a caseworker's reply or a letter a person sent; the acknowledgement does not count."),
        _heading("Caseworkers") + image("caseworkers") + _table(
            ("caseworker", "open", "overdue reminders"),
            [(row.name, row.open_cases, row.overdue_reminders) for row in figures.workloads]) + _paragraph(
            "Overdue: follow-up and check-in reminders due before the end of the week and still pending then."),
        _heading("Top agencies by open cases") + image("agencies") + _table(
            ("agency", "open", "opened this week"), [(row.name, row.pending, row.opened) for row in figures.agencies]),
        _heading("Top issue areas") + _table(
            ("issue area", "open", "opened this week"),
            [(row.name, row.pending, row.opened) for row in figures.issue_areas]),
        _heading("Days to answer an inquiry") + image("answer-days") + _table(
            ("agency", "answers", "median days", "standard"),
            [(row.agency, row.answers, f"{row.median_days:g}",
              f"{row.standard_days} {'business days' if row.business_days else 'days'}") for row in answers.times])
        + _paragraph("From the first inquiry to the agency's first answer, for the answers received in the last "
                     "52 weeks, counted in the agency's own kind of days."),
        _heading("Overdue agency answers") + image("overdue-answers") + _table(
            ("case", "agency", "caseworker", "waiting since", "due", "days overdue"),
            [(row.ref, row.agency, row.assignee or "unassigned", row.waiting_since.isoformat(), row.due.isoformat(),
              row.days_overdue) for row in answers.overdue[:SHOWN_OVERDUE]])
        + _paragraph(f"{len(answers.overdue)} open case(s) waiting for an agency's answer past its standard at the "
                     "end of the week" + (f"; the {SHOWN_OVERDUE} longest overdue are listed."
                                          if len(answers.overdue) > SHOWN_OVERDUE else ".")),
        _heading("Week by week") + _table(
            ("week", "opened", "closed", "a year before", "opened", "closed"),
            [(row.week.label, row.opened, row.closed, before.week.label, before.opened, before.closed)
             for row, before in zip(reversed(year.weeks), reversed(year.last_year), strict=True)], small=True),
    ]
    rows = "".join(f'<tr><td style="padding:0 0 14px 0;"><table role="presentation" width="100%" cellpadding="0" '
                   f'cellspacing="0" border="0">{section}</table></td></tr>' for section in sections)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title(figures))}</title></head>'
            '<body style="margin:0;padding:0;background:#ffffff;">'
            f'<table role="presentation" width="{SHOWN_WIDTH + 24}" align="center" cellpadding="0" cellspacing="0" '
            f'border="0" style="width:{SHOWN_WIDTH + 24}px;"><tr><td style="padding:12px;">'
            f'<table role="presentation" width="{SHOWN_WIDTH}" cellpadding="0" cellspacing="0" border="0">{rows}'
            '</table></td></tr></table></body></html>\n')


def _heading(text: str, size: int = 15) -> str:
    return (f'<tr><td style="{FONT}font-size:{size}px;font-weight:bold;color:#111111;padding:4px 0 2px 0;">'
            f"{escape(text)}</td></tr>")


def _paragraph(text: str) -> str:
    return f'<tr><td style="{FONT}font-size:12px;color:#555555;padding:4px 0;">{escape(text)}</td></tr>'


def _table(heading: Cells, rows: Sequence[Cells], small: bool = False) -> str:
    size = "font-size:11px;" if small else ""
    columns = [[row[index] for row in rows] for index in range(len(heading))]
    aligns = [_align(index, column) for index, column in enumerate(columns)]
    wraps = [_wrap(column) for column in columns]
    head = "".join(f'<th align="{align}" style="{HEAD}{size}">{escape(str(cell))}</th>'
                   for align, cell in zip(aligns, heading, strict=True))
    body = "".join("<tr>" + "".join(f'<td align="{align}" style="{CELL}{size}{wrap}">{escape(str(cell))}</td>'
                                    for align, wrap, cell in zip(aligns, wraps, row, strict=True))
                   + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(heading)}" style="{CELL}color:#777777;">(none)</td></tr>'
    return (f'<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
            f'style="border-collapse:collapse;"><tr>{head}</tr>{body}</table></td></tr>')


def _align(index: int, column: Sequence[object]) -> str:
    """Numbers right, under their heads; words, names and dates left."""
    numbers = index > 0 and all(isinstance(cell, int | float) or str(cell).replace(".", "", 1).isdigit()
                                or cell == "-" for cell in column)
    return "right" if numbers else "left"


def _wrap(column: Sequence[object]) -> str:
    """Short cells (numbers, dates, case references) stay on one line; names may wrap."""
    return "" if any(len(str(cell)) > 24 for cell in column) else "white-space:nowrap;"


def _decimal(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"

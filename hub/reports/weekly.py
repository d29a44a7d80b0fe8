"""The weekly report: made for one week, shown on demand, and queued for the supervisors when it is due.

The report goes out as one outbox row per supervisor: the text as the body, an HTML alternative with its
charts as inline images (hub.reports.page, hub.reports.charts), the CSV attached, sent by the next delivery
pass. It is due at `[schedule] report_day` and `report_time`, office time, and covers
the last complete week. Its sending is claimed for that week in `periodic_sends` in the transaction that
queues it (hub.core.periodic), so a hub that was down over the report time sends it once when it comes
back, and a cycle that runs every minute, a restart or a second daemon sends it once. An office with no case
opened by the end of that week (a new one) gets no report of it.
"""

from __future__ import annotations

import base64
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.app import Hub
from hub.core.clock import local_moment
from hub.core.config_values import WEEKDAYS
from hub.core.errors import UserError
from hub.core.models import Case
from hub.core.periodic import claim, claimed
from hub.letters.compose import Attachment, HtmlPart, InlineImage, attachment_context, html_context
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.reports.agency_answers import AgencyAnswers, agency_answers
from hub.reports.charts import Chart, draw_charts  # matplotlib itself only when a chart is drawn
from hub.reports.figures import WeeklyFigures, weekly_figures
from hub.reports.page import report_html
from hub.reports.text import report_csv, report_json, report_text, title
from hub.reports.week import Week, parse_week, week_containing
from hub.reports.year import YearSeries, year_series

log = logging.getLogger(__name__)
LETTER = "weekly-report"
SUPERVISORS = "supervisors"  # the weekly report's claim is one for all of them (hub.core.periodic)


@dataclass(frozen=True)
class WeeklyReport:
    week: Week
    subject: str
    text: str
    csv: bytes
    data: dict[str, Any]  # the CSV's rows for `--json`
    html: HtmlPart        # for the mail: the charts as cid: images
    page: str             # for a browser (`--html FILE`): the same HTML, the charts as data: URIs

    @property
    def attachment(self) -> Attachment:
        return Attachment(f"casework-report-{self.week.label}.csv", "text/csv; charset=utf-8", self.csv)


def chosen_week(hub: Hub, text: str | None) -> Week:
    """The week named by `--week`, or the last complete week; a week not over yet is a UserError."""
    timezone, now = hub.config.office.timezone, hub.clock.now()
    if text is None:
        return week_containing(now, timezone).previous()
    week = parse_week(text, timezone)
    if week.end > now:
        raise UserError(f"--week: {week.label} is not over yet (it ends {week.sunday:%A %B} {week.sunday.day} "
                        f"at midnight, office time)")
    return week


def weekly_report(hub: Hub, week: Week, apart: bool = False, drawn: bool = True) -> WeeklyReport:
    """The week's report; `apart`: its charts drawn in a child process (the daemon's), so that matplotlib's
    tens of megabytes are given back when they are drawn; `drawn=False`: no charts at all (the HTML keeps its
    tables), for a reader of the text or the JSON, who would wait seconds for charts nobody sees."""
    with hub.sessions() as session:
        figures = weekly_figures(session, hub.config, week)
        year, answers = year_series(session, week), agency_answers(session, hub.config, week)
    charts = _charts(figures, year, answers, apart) if drawn else ()
    office = hub.config.office

    def cid(chart: Chart) -> str:
        return f"chart-{chart.name}.{week.label}@{office.domain}"

    def data_uri(chart: Chart) -> str:
        return "data:image/png;base64," + base64.b64encode(chart.png).decode("ascii")

    html = HtmlPart(report_html(figures, year, answers, charts, office.name, lambda chart: f"cid:{cid(chart)}"),
                    tuple(InlineImage(cid(chart), "image/png", chart.png, f"{chart.name}.png") for chart in charts))
    return WeeklyReport(week, title(figures), report_text(figures, office.name), report_csv(figures),
                        report_json(figures), html, report_html(figures, year, answers, charts, office.name, data_uri))


def _charts(figures: WeeklyFigures, year: YearSeries, answers: AgencyAnswers, apart: bool) -> tuple[Chart, ...]:
    """The charts; none when they cannot be drawn: the report still goes, its numbers in tables."""
    try:
        if not apart:
            return draw_charts(figures, year, answers)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(draw_charts, figures, year, answers).result()
    except Exception as error:  # a chart is never worth the report: it goes with its tables alone
        log.warning("weekly report %s: charts not drawn (%s: %s); it goes without them",
                    figures.week.label, type(error).__name__, error)
        return ()


def queue_report(hub: Hub, report: WeeklyReport, session: Session | None = None) -> int:
    """One outbox row per supervisor address (in `session`'s transaction if given); returns how many."""
    if session is None:
        with hub.sessions.begin() as own:
            return queue_report(hub, report, own)
    now = hub.clock.now()
    recipients = list(dict.fromkeys(hub.config.supervisors))
    for address in recipients:
        enqueue(session.connection(), case_id=None, case_ref=None, letter=LETTER, recipient=address, refs=hub.refs,
                domain=hub.config.office.domain, now=now, automatic=AUTO_GENERATED, subject=report.subject,
                body=report.text, context={"week": report.week.label,
                                           "attachments": attachment_context(report.attachment),
                                           "html": html_context(report.html)})
    log.info("weekly report %s queued for %d supervisor(s)", report.week.label, len(recipients))
    return len(recipients)


def send_weekly_if_due(hub: Hub) -> str | None:
    """Queue last week's report for the supervisors when it is due and not yet queued; returns a line saying so."""
    now = hub.clock.now()
    due_at = report_moment(hub, now)
    if now < due_at:
        return None
    week = week_containing(now, hub.config.office.timezone).previous()
    with hub.sessions() as session:
        if claimed(session.connection(), LETTER, week.label):
            return None  # the common case, every cycle after the report went: one small read, no report
        if session.scalar(select(Case.id).where(Case.opened_at < week.end).limit(1)) is None:
            return None  # a new office: no case yet that week, nothing to report
    report = weekly_report(hub, week, apart=True)
    with hub.sessions.begin() as session:  # the rows and the claim commit together
        if not claim(session.connection(), LETTER, week.label, SUPERVISORS, now):
            return None  # another daemon queued it first
        count = queue_report(hub, report, session)
    return f"weekly report {week.label} queued for {count} supervisor(s)"


def report_moment(hub: Hub, now: datetime) -> datetime:
    """This week's report time (`[schedule] report_day` at `report_time`, office time), in UTC."""
    timezone, schedule = hub.config.office.timezone, hub.config.schedule
    day = week_containing(now, timezone).monday + timedelta(days=WEEKDAYS.index(schedule.report_day))
    return local_moment(day, schedule.report_time, timezone)

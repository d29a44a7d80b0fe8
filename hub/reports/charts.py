"""The weekly report's charts: PNG images for the HTML mail, each with alt text that says what it shows.

Drawn with matplotlib on its Agg canvas, which is imported here, when a report is drawn, and never when
the hub starts: it costs every `hub` command tens of milliseconds and the daemon tens of megabytes.
The palette is Okabe and Ito's, told apart by people with any common colour blindness; this year and last
year also differ by line style. Each image is 1200 pixels wide, shown at 600 (Outlook's reading pane) so
it stays sharp on a high-density screen. No chart is drawn for a section with nothing in it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.reports.agency_answers import SHOWN, AgencyAnswers
from hub.reports.figures import WeeklyFigures
from hub.reports.year import YearSeries

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BLUE, ORANGE, VERMILLION, SKY, GREY = "#0072B2", "#E69F00", "#D55E00", "#56B4E9", "#666666"
WIDTH_INCHES, DPI = 6.0, 200  # 1200 px, shown at 600
SHOWN_WIDTH = 600


@dataclass(frozen=True)
class Chart:
    name: str   # short, unique in the report: part of its Content-ID and file name
    alt: str
    png: bytes

    @property
    def shown_height(self) -> int:
        """The height in pixels at SHOWN_WIDTH, from the PNG's own header (Outlook wants both attributes)."""
        width, height = int.from_bytes(self.png[16:20], "big"), int.from_bytes(self.png[20:24], "big")
        return round(height * SHOWN_WIDTH / width)


def draw_charts(figures: WeeklyFigures, year: YearSeries, answers: AgencyAnswers) -> tuple[Chart, ...]:
    charts = [_year_chart(year), _ages_chart(figures)]
    if figures.workloads and any(row.open_cases or row.overdue_reminders for row in figures.workloads):
        charts.append(_caseworkers_chart(figures))
    if figures.agencies:
        charts.append(_agencies_chart(figures))
    if answers.times:
        charts.append(_answer_days_chart(answers))
    if answers.overdue:
        charts.append(_overdue_chart(answers))
    return tuple(charts)


def _figure(height: float) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    figure.set_facecolor("white")
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})  # the same bytes for the same data
    return buffer.getvalue()


def _plain(axes: Axes) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=9)


def _year_chart(year: YearSeries) -> Chart:
    from matplotlib.ticker import MaxNLocator

    figure = _figure(4.2)
    top, bottom = figure.subplots(2, 1, sharex=True)
    positions = range(len(year.weeks))
    first, last = year.weeks[0].week, year.weeks[-1].week
    before_first, before_last = year.last_year[0].week, year.last_year[-1].week
    for axes, measure in ((top, "opened"), (bottom, "closed")):
        now = [getattr(row, measure) for row in year.weeks]
        then = [getattr(row, measure) for row in year.last_year]
        axes.plot(positions, now, color=BLUE, linewidth=2, label=f"{first.label} to {last.label}")
        axes.plot(positions, then, color=ORANGE, linewidth=1.5, linestyle="--",
                  label=f"a year before ({before_first.label} to {before_last.label})")
        axes.set_title(f"Cases {measure} per week", fontsize=10, loc="left")
        axes.set_ylim(bottom=0)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="y", color="#dddddd", linewidth=0.6)
        _plain(axes)
    ticks = [index for index, row in enumerate(year.weeks) if row.week.monday.day <= 7]  # a month's first week
    bottom.set_xticks(ticks, [f"{year.weeks[index].week.monday:%b}" for index in ticks])
    top.legend(fontsize=8, frameon=False, loc="upper left")
    totals = {measure: (sum(getattr(row, measure) for row in year.weeks),
                        sum(getattr(row, measure) for row in year.last_year)) for measure in ("opened", "closed")}
    alt = (f"Line charts of the cases opened and closed each week from {first.label} to {last.label}, against the "
           f"same weeks a year before: {totals['opened'][0]} opened (a year before {totals['opened'][1]}), "
           f"{totals['closed'][0]} closed (a year before {totals['closed'][1]}); this week {year.weeks[-1].opened} "
           f"opened and {year.weeks[-1].closed} closed.")
    return Chart("year", alt, _png(figure))


def _ages_chart(figures: WeeklyFigures) -> Chart:
    figure = _figure(2.4)
    axes = figure.subplots()
    labels = [f"{bucket} days" for bucket, _ in figures.ages]
    counts = [count for _, count in figures.ages]
    bars = axes.bar(labels, counts, color=BLUE)
    axes.bar_label(bars, fontsize=9)
    axes.set_yticks([])
    axes.spines["left"].set_visible(False)
    _plain(axes)
    listed = ", ".join(f"{label} {count}" for label, count in zip(labels, counts, strict=True))
    return Chart("ages", f"Bar chart of the cases open at the end of the week by age: {listed}.", _png(figure))


def _caseworkers_chart(figures: WeeklyFigures) -> Chart:
    rows = figures.workloads
    names = [row.name for row in rows]
    chart = _paired_bars(names, [row.open_cases for row in rows], [row.overdue_reminders for row in rows],
                         ("open cases", "overdue reminders"))
    listed = "; ".join(f"{row.name} {row.open_cases} open, {row.overdue_reminders} overdue" for row in rows)
    return Chart("caseworkers", f"Bar chart of open cases and overdue reminders by caseworker: {listed}.", chart)


def _agencies_chart(figures: WeeklyFigures) -> Chart:
    rows = figures.agencies
    chart = _paired_bars([row.name for row in rows], [row.pending for row in rows], [row.opened for row in rows],
                         ("open cases", "opened this week"))
    listed = "; ".join(f"{row.name} {row.pending} open, {row.opened} opened this week" for row in rows)
    return Chart("agencies", f"Bar chart of the agencies with the most open cases: {listed}.", chart)


def _paired_bars(names: Sequence[str], first: Sequence[int], second: Sequence[int],
                 legend: tuple[str, str]) -> bytes:
    figure = _figure(0.9 + 0.42 * len(names))
    axes = figure.subplots()
    places = range(len(names))
    height = 0.38
    bars = axes.barh([place - height / 2 for place in places], first, height, color=BLUE, label=legend[0])
    axes.bar_label(bars, fontsize=8, padding=2)
    bars = axes.barh([place + height / 2 for place in places], second, height, color=VERMILLION, label=legend[1])
    axes.bar_label(bars, fontsize=8, padding=2)
    axes.set_yticks(list(places), [_short(name) for name in names])
    axes.invert_yaxis()
    axes.set_xticks([])
    axes.spines["bottom"].set_visible(False)
    figure.legend(fontsize=8, frameon=False, loc="outside upper right", ncols=2)
    _plain(axes)
    return _png(figure)


def _answer_days_chart(answers: AgencyAnswers) -> Chart:
    rows = answers.times[:SHOWN]
    figure = _figure(1.3 + 0.38 * len(rows))
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    axes = figure.subplots()
    places = list(range(len(rows)))
    colours = [VERMILLION if row.median_days > row.standard_days else BLUE for row in rows]
    bars = axes.barh(places, [row.median_days for row in rows], 0.6, color=colours)
    axes.bar_label(bars, [f"{row.median_days:g}" for row in rows], fontsize=8, padding=2)
    axes.scatter([row.standard_days for row in rows], places, marker="|", s=300, linewidths=2.5, color="black",
                 zorder=3, label="the agency's standard")
    axes.set_yticks(places, [_short(row.agency) for row in rows])
    axes.invert_yaxis()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("median days from the inquiry to the first answer (last 52 weeks)", fontsize=8)
    figure.legend(handles=[Patch(color=BLUE, label="within the standard"),
                           Patch(color=VERMILLION, label="slower than the standard"),
                           Line2D([], [], color="black", marker="|", linestyle="", markersize=12, markeredgewidth=2.5,
                                  label="the agency's standard")],
                  fontsize=8, frameon=False, loc="outside upper right", ncols=3)
    _plain(axes)
    listed = "; ".join(f"{row.agency} {row.median_days:g} {_unit(row.business_days)} (standard "
                       f"{row.standard_days}, {row.answers} answers)" for row in rows)
    return Chart("answer-days", f"Bar chart of the median days each agency took to answer: {listed}.", _png(figure))


def _overdue_chart(answers: AgencyAnswers) -> Chart:
    counts: dict[str, int] = {}
    for row in answers.overdue:
        counts[row.agency] = counts.get(row.agency, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    figure = _figure(0.9 + 0.34 * len(ranked))
    axes = figure.subplots()
    bars = axes.barh(range(len(ranked)), [count for _, count in ranked], 0.6, color=VERMILLION)
    axes.bar_label(bars, fontsize=8, padding=2)
    axes.set_yticks(range(len(ranked)), [_short(name) for name, _ in ranked])
    axes.invert_yaxis()
    axes.set_xticks([])
    axes.spines["bottom"].set_visible(False)
    _plain(axes)
    listed = "; ".join(f"{name} {count}" for name, count in ranked)
    return Chart("overdue-answers", f"Bar chart of the cases waiting past the standard for an agency's answer, by "
                 f"agency: {listed}.", _png(figure))


def _unit(business: bool) -> str:
    return "business days" if business else "days"


def _short(name: str, limit: int = 34) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"

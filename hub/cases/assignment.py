"""Who gets a case nobody assigned: the office's rules, in its order (config [assignment] rules).

- `portfolio`: the caseworker whose `agencies` include the case's agency (the least loaded of them);
- `weekday`: the caseworker on intake duty that weekday ([assignment.weekdays]);
- `fewest-open`: whoever has the fewest open cases.
The first rule that names someone wins; none leaves the case with the intake address.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from hub.core.config import Config
from hub.core.config_values import WEEKDAYS, Staff
from hub.core.models import Case


def choose(connection: Connection, config: Config, now: datetime, agency: str | None) -> tuple[Staff, str] | None:
    """(the caseworker, the rule that chose them), or None."""
    for rule in config.assignment.rules:
        if rule == "portfolio" and agency:
            portfolio = [person for person in config.staff if agency in person.agencies]
            if portfolio:
                return _least_loaded(connection, portfolio), f"portfolio ({agency})"
        elif rule == "weekday":
            day = WEEKDAYS[now.astimezone(ZoneInfo(config.office.timezone)).weekday()]
            on_duty = dict(config.assignment.weekdays).get(day)
            person = config.staff_member(on_duty)
            if person is not None:
                return person, f"intake duty on {day.capitalize()}"
        elif rule == "fewest-open" and config.staff:
            return _least_loaded(connection, list(config.staff)), "fewest open cases"
    return None


def chosen_detail(chosen: tuple[Staff, str]) -> str:
    """The history's words for an assignment by rule."""
    person, rule = chosen
    return f"assigned to {person.name} <{person.email}> by {rule}"


def _least_loaded(connection: Connection, people: list[Staff]) -> Staff:
    rows = connection.execute(select(Case.assignee, func.count())
                              .where(Case.assignee.in_([p.email for p in people]), Case.status != "closed")
                              .group_by(Case.assignee))
    counts = {assignee: count for assignee, count in rows}
    return min(people, key=lambda person: counts.get(person.email, 0))

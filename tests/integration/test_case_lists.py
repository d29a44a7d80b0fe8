"""`hub cases` finds the cases a caseworker means: by assignee, agency, label, age, overdue reminders, and
whom the case waits on; every filter together with the others, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hub.cli.case_actions import run_action
from hub.cli.main import main
from hub.core.app import Hub
from hub.core.clock import FixedClock
from tests.helpers import email, feed

pytestmark = pytest.mark.integration


@pytest.fixture
def office(cli_office: Hub) -> Hub:
    return cli_office


def opened(hub: Hub, sender: str, subject: str) -> str:
    outcome = feed(hub, email(sender=sender, subject=subject))
    assert outcome.fate == "new-case" and outcome.case_ref
    return outcome.case_ref


def listed(hub: Hub, capsys: pytest.CaptureFixture[str], *filters: str) -> list[str]:
    capsys.readouterr()
    assert main(["--config", str(hub.config.path), "cases", *filters, "--json"]) == 0
    return [case["subject"] for case in json.loads(capsys.readouterr().out)]


def test_cases_are_found_by_who_what_age_and_whom_they_wait_on(office: Hub,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    hub = office
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    old = opened(hub, "Ann Old <ann@example.com>", "Old pension")
    clock.advance(timedelta(days=40))
    pension = opened(hub, "Pat Example <pat@example.com>", "Pension")
    passport = opened(hub, "Lee Example <lee@example.com>", "Passport")
    run_action(hub, old, "assign", "sam")
    run_action(hub, old, "agency", "ssa")
    run_action(hub, pension, "assign", "sam")
    run_action(hub, pension, "agency", "ssa")
    run_action(hub, pension, "label", "urgent")
    run_action(hub, pension, "status", "pending-agency")
    run_action(hub, passport, "assign", "maria")
    run_action(hub, passport, "agency", "state")
    run_action(hub, passport, "status", "pending-constituent")
    run_action(hub, passport, "followup", "2d")  # then nobody follows up: overdue once the day passes
    clock.advance(timedelta(days=3))

    assert listed(hub, capsys) == ["Old pension", "Pension", "Passport"]
    assert listed(hub, capsys, "--assignee", "sam") == ["Old pension", "Pension"]
    assert listed(hub, capsys, "--assignee", "maria.lopez@doe.example.gov") == ["Passport"]
    assert listed(hub, capsys, "--agency", "ssa", "--label", "urgent") == ["Pension"]
    assert listed(hub, capsys, "--older-than", "30") == ["Old pension"]
    # Ann's check-in fell due at 30 days and no cycle has sent it; Maria's follow-up day for Lee passed.
    assert listed(hub, capsys, "--overdue") == ["Old pension", "Passport"]
    assert listed(hub, capsys, "--overdue", "--assignee", "maria") == ["Passport"]
    assert listed(hub, capsys, "--waiting-on", "agency") == ["Pension"]
    assert listed(hub, capsys, "--waiting-on", "constituent", "--assignee", "maria") == ["Passport"]
    assert listed(hub, capsys, "--assignee", "sam", "--status", "pending-agency") == ["Pension"]
    assert listed(hub, capsys, "--label", "nosuch") == []


@pytest.mark.parametrize(("filters", "said"), [
    (("--assignee", "nobody"), "hub: --assignee nobody: nobody on the staff answers to that name"),
    (("--agency", "nosuch"), "hub: --agency nosuch: no agency with that key"),
    (("--older-than", "-3"), "--older-than: expected a whole number of days, 0 or more"),
    (("--waiting-on", "caseworker"), "invalid choice: 'caseworker'"),
])
def test_a_filter_that_names_nothing_says_so_in_one_line(office: Hub, capsys: pytest.CaptureFixture[str],
                                                         filters: tuple[str, ...], said: str) -> None:
    try:
        code = main(["--config", str(office.config.path), "cases", *filters])
    except SystemExit as usage:
        code = int(str(usage.code))
    err = capsys.readouterr().err
    assert code in (1, 2) and said in err and err.count("\n") == 1, err

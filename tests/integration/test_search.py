"""`hub search` finds cases by what their messages and notes say, by the constituent's name, address or
phone number however typed, and by the agency's control number; the same on SQLite and PostgreSQL, with
rows written before the index existed found too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import update

from hub.cli.case_actions import run_action
from hub.cli.main import main
from hub.core.app import Hub
from hub.core.db import MIGRATIONS, migrate
from hub.core.models import Case, Party
from tests.helpers import email, feed

pytestmark = pytest.mark.integration
FIELDS = {"ref", "status", "match", "snippet", "at", "message_id"}
PENSION_BODY = ("I wrote to the SSA in March. " * 20 + "They say I was overpaid 1,200 dollars and will stop my "
                "pension. Call me at (919) 555-0142 in the afternoon. " + "Thank you for your help. " * 20)


@pytest.fixture
def office(cli_office: Hub) -> Hub:
    return cli_office


def opened(hub: Hub, sender: str, subject: str, body: str) -> str:
    outcome = feed(hub, email(sender=sender, subject=subject, body=body))
    assert outcome.fate == "new-case" and outcome.case_ref
    return outcome.case_ref


def found(hub: Hub, capsys: pytest.CaptureFixture[str], text: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["--config", str(hub.config.path), "search", text, "--json"]) == 0
    hits: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert all(set(hit) == FIELDS for hit in hits)
    return hits


def matches(hub: Hub, capsys: pytest.CaptureFixture[str], text: str) -> set[tuple[str, str]]:
    return {(hit["ref"], hit["match"]) for hit in found(hub, capsys, text)}


def test_messages_notes_names_addresses_numbers_and_control_numbers_are_found(
        office: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    hub = office
    pension = opened(hub, "Pat Example <pat@example.com>", "Pension overpayment", PENSION_BODY)
    passport = opened(hub, "Lee Sample <lee@example.org>", "Passport", "My passport application is stuck.")
    run_action(hub, passport, "note", "called the passport agency, ticket 77XQ")
    with hub.sessions.begin() as session:  # what a web form and an agency's answer would write
        session.execute(update(Party).where(Party.email == "pat@example.com").values(phone="+19195550142"))
        session.execute(update(Case).where(Case.ref == passport).values(agency_control="A123456789"))
    assert main(["--config", str(hub.config.path), "run", "--once"]) == 0  # the acknowledgements go out

    [hit] = found(hub, capsys, "overpaid")
    assert (hit["ref"], hit["status"], hit["match"]) == (pension, "new", "inbound")
    assert "overpaid 1,200 dollars" in hit["snippet"] and len(hit["snippet"]) < 130  # a snippet, not the body
    assert hit["message_id"] and hit["at"].startswith("2026-11-23T14:00")
    # A word's beginning, any case; the acknowledgement repeats the subject.
    assert matches(hub, capsys, "OVERPAY") == {(pension, "inbound"), (pension, "outbound")}
    assert matches(hub, capsys, "we received your message") == {(pension, "outbound"), (passport, "outbound")}
    assert matches(hub, capsys, "ticket 77xq") == {(passport, "note")}
    assert matches(hub, capsys, "Lee Sample") == {(passport, "name")}
    assert matches(hub, capsys, "pat@example.com") == {(pension, "email")}
    assert matches(hub, capsys, "lee@example.com") == set()  # an address matches as a whole
    assert matches(hub, capsys, "a123456789") == {(passport, "agency-control")}
    for typed in ("9195550142", "919.555.0142", "+1 919 555 0142"):
        assert (pension, "phone") in matches(hub, capsys, typed), typed
    # As the constituent wrote it in the message, the number finds the message too.
    assert matches(hub, capsys, "(919) 555-0142") == {(pension, "phone"), (pension, "inbound")}
    assert matches(hub, capsys, "passport stuck") == {(passport, "inbound")}
    assert matches(hub, capsys, "passport pension") == set()  # every word must match

    capsys.readouterr()
    assert main(["--config", str(hub.config.path), "search", "ticket"]) == 0
    line = capsys.readouterr().out
    assert passport in line and "note" in line and "77XQ" in line


@pytest.mark.parametrize("text", ["", "  ", "?!-", "@."])
def test_a_query_with_nothing_to_look_for_is_a_one_line_error(office: Hub, capsys: pytest.CaptureFixture[str],
                                                              text: str) -> None:
    assert main(["--config", str(office.config.path), "search", text]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hub: search") and "give a word" in err and err.count("\n") == 1, err


def test_rows_written_before_the_index_existed_are_found_after_the_upgrade(
        office: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    hub = office
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(MIGRATIONS))
    alembic.attributes["engine"] = hub.engine
    before = opened(hub, "Ann Old <ann@example.com>", "Housing", "The landlord never fixed the boiler.")
    run_action(hub, before, "note", "asked HUD about the boiler")
    command.downgrade(alembic, "0012")  # the index goes; the rows stay, as they were before it existed

    migrate(hub.engine)

    assert matches(hub, capsys, "boiler") == {(before, "inbound"), (before, "note")}
    assert matches(hub, capsys, "Ann Old") == {(before, "name")}
    later = opened(hub, "Bo New <bo@example.com>", "Boiler too", "Mine as well.")
    assert matches(hub, capsys, "boiler") == {(before, "inbound"), (before, "note"), (later, "inbound")}

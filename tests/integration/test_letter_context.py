"""A case in the database fills in exactly the variables the letters are written against."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.models import Case
from hub.letters.context import case_context
from hub.letters.templates import CONTEXT_KEYS
from tests.helpers import email, feed

pytestmark = pytest.mark.integration


def shape(context: dict[str, object]) -> dict[str, tuple[str, ...] | None]:
    return {group: tuple(sorted(value)) if isinstance(value, dict) else None for group, value in context.items()}


def test_a_case_fills_in_the_letter_contract(hub: Hub) -> None:
    feed(hub, email(sender="Pat Example <pat@example.com>", subject="Pension", body="My pension stopped."))
    with hub.sessions() as session:
        case = session.scalars(select(Case)).one()
        case.agency = "ssa"
        context = case_context(session, hub.config, case, hub.clock.now())
        assert shape(context) == {group: tuple(sorted(fields)) if fields else None
                                  for group, fields in CONTEXT_KEYS.items()}
        assert context["constituent"] == {"name": "Pat Example", "first_name": "Pat", "email": "pat@example.com",
                                          "phone": "", "address": "", "zip": ""}
        assert context["case"]["summary"] == "My pension stopped."  # type: ignore[index]
        assert context["agency"]["name"] == "Social Security Administration"  # type: ignore[index]
        assert context["caseworker"]["name"] == "Casework Team", "unassigned: the office's team signs"  # type: ignore[index]
        assert context["inquiry"]["response_due"] == "", "no inquiry went out, so nothing is due"  # type: ignore[index]
        inquiry = case_context(session, hub.config, case, hub.clock.now(), {"letter": "agency-inquiry"})
        assert inquiry["inquiry"]["response_due"] == "December 13, 2026"  # type: ignore[index]
        session.rollback()

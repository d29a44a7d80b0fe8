"""The short form of bench/fuzz.py: mutated real mail through the whole inbound path, on SQLite and
PostgreSQL; nothing escapes, and every input ends on a case, in triage, as a duplicate or in quarantine.
Without the shared corpus the seeds are the generated office mail and the poison messages alone."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.core.app import Hub
from hub.core.models import Message, QuarantineItem
from tests.fuzzing import corpus_seeds, generated_seeds, mutants, run

pytestmark = pytest.mark.integration
INPUTS = 80


def test_no_mutated_message_escapes_the_inbound_path(hub: Hub) -> None:
    seeds = corpus_seeds() + generated_seeds(hub.refs, 30)

    report = run(hub, mutants(seeds, INPUTS, seed=7, refs=hub.refs))

    assert report.escapes == []
    assert report.inputs == INPUTS and sum(report.fates.values()) == INPUTS
    with hub.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        held = session.scalar(select(func.count()).select_from(QuarantineItem))
    assert stored == report.fates["new-case"] + report.fates["case"] + report.fates["triage"]
    assert 0 < (held or 0) <= report.fates["quarantine"], "quarantine keeps each distinct input once"

"""A realistic 500-message office mailbox through a private Dovecot, on SQLite and PostgreSQL.

New mail, replies in Gmail, Outlook and Apple Mail shapes, agency replies with rewritten subjects,
references in the body only, auto-replies, bounces, list mail, duplicates and malformed messages: each
ends on exactly the case it belongs to, or in triage or quarantine with a reason; a second run changes
nothing.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.errors import QuarantineError
from hub.core.models import Case, Message, Outbox
from hub.intake.parse.email import parse_email
from hub.run.cycle import drain_inbox
from tests.helpers import tally
from tests.mailgen import Generated, office_mailbox
from tests.servers.dovecot import DovecotServer

pytestmark = pytest.mark.integration
SIZE = 500


def dedupe_key(generated: Generated) -> str | None:
    try:
        return parse_email(generated.raw, "test", 10**9).dedupe_key
    except QuarantineError:
        return None


def test_a_mixed_mailbox_ends_with_every_message_where_it_belongs(imap_office: Hub, dovecot: DovecotServer) -> None:
    mailbox = list(office_mailbox(SIZE, imap_office.refs, year=26))
    shapes = Counter(g.shape for g in mailbox)
    for shape in ("new", "reply-gmail", "reply-outlook", "reply-apple", "agency-rewritten-subject",
                  "ref-in-body-only", "auto-reply", "bounce", "list", "duplicate", "malformed"):
        assert shapes[shape] > 0, f"the generated mailbox has no {shape} message"
    dovecot.deliver_many(g.raw for g in mailbox)

    summary = drain_inbox(imap_office)

    expected = Counter(g.expect for g in mailbox)
    assert {fate: summary.fates[fate] for fate in expected} == dict(expected)
    with imap_office.sessions() as session:
        stored = {m.dedupe_key: m for m in session.scalars(select(Message))}
        refs_by_id = {case.id: case.ref for case in session.scalars(select(Case))}
        for generated in mailbox:
            key = dedupe_key(generated)
            if generated.expect == "quarantine":
                assert key is None or key not in stored, generated.shape
                continue
            row = stored[key]  # type: ignore[index]
            if generated.expect in ("new-case", "case"):
                want = str(imap_office.refs.make(26, generated.case_sequence or 0))
                assert (row.disposition, refs_by_id.get(row.case_id)) == ("case", want), generated.shape
            elif generated.expect == "triage":
                assert (row.disposition, row.case_id) == ("triage", None), generated.shape
                assert row.reason, "every message in triage says why"
        first_kinds = Counter(
            session.scalars(select(Message.kind).where(Message.case_id == case_id).order_by(Message.id).limit(1)).one()
            for case_id in refs_by_id)
        acknowledgements = session.scalars(select(Outbox.case_id).where(Outbox.letter == "acknowledgement")).all()
    assert first_kinds == {"constituent": expected["new-case"]}, "no case was opened by automatic mail"
    assert sorted(acknowledgements) == sorted(refs_by_id), "exactly one acknowledgement per case"
    counts = tally(imap_office)
    assert counts.cases == expected["new-case"]
    assert counts.messages == SIZE - expected["duplicate"] - expected["quarantine"]
    assert counts.quarantine == len({g.raw for g in mailbox if g.expect == "quarantine"})

    assert drain_inbox(imap_office).total == 0
    assert tally(imap_office) == counts

"""Mail to staff about a case answers the case's first; Outlook's Thread-Index is the same conversation for all."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, insert

from hub.core.models import Base, Outbox
from hub.letters.notice_thread import FIRST, thread, thread_index, thread_roots, thread_topic
from tests.helpers import START


@pytest.fixture
def connection() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    try:
        with engine.begin() as opened:
            yield opened
    finally:
        engine.dispose()  # Python 3.13 warns of a database left to the collector


def row(letter: str, number: int, case_id: int | None = 1, **fields: Any) -> dict[str, Any]:
    return {**dict(case_id=case_id, letter=letter, recipient="maria@doe.example.gov", message_id=f"<{number}@hub>",
                   in_reply_to=None, references=None, context={}, not_before=START, created_at=START), **fields}


def test_the_first_mail_to_staff_starts_the_thread_and_the_rest_answer_it(connection: Connection) -> None:
    connection.execute(insert(Outbox), row("acknowledgement", 1))
    connection.execute(insert(Outbox), row("caseworker-notification", 2, folded_into=9, state="folded"))
    first, second, other_case = row("caseworker-notification", 3), row("followup-reminder", 4), \
        row("caseworker-notification", 5, case_id=2)
    thread(connection, [first, second, other_case])
    assert (first["in_reply_to"], first["context"]) == (None, {FIRST: True}), "neither a letter nor a folded notice"
    assert (second["in_reply_to"], second["context"]) == ("<3@hub>", {}), "in the same batch"
    assert other_case["context"] == {FIRST: True}
    connection.execute(insert(Outbox), [first, second, other_case])
    assert thread_roots(connection, [1, 2, 3]) == {1: "<3@hub>", 2: "<5@hub>"}

    reply = row("command-reply", 6, in_reply_to="<hers@doe.example.gov>")
    again = row("command-reply", 7, in_reply_to="<again@doe.example.gov>", references="<3@hub> <x@example.com>")
    relay, digest = row("relay", 8), row("notice-digest", 9, case_id=None)
    thread(connection, [reply, again, relay, digest])
    assert (reply["in_reply_to"], reply["references"]) == ("<hers@doe.example.gov>", "<3@hub>"), \
        "her mail answered, in the case's thread"
    assert again["references"] == "<3@hub> <x@example.com>", "the root named once"
    assert relay["in_reply_to"] is None and digest["in_reply_to"] is None, "only mail to staff about a case"


def test_a_thread_index_is_one_conversation_per_case_in_time_order() -> None:
    opened = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    root = base64.b64decode(thread_index("doe.example.gov", "CW-26-00042-K7", opened, opened))
    later = base64.b64decode(thread_index("DOE.example.gov", "CW-26-00042-K7", opened, opened + timedelta(days=3)))
    other = base64.b64decode(thread_index("doe.example.gov", "CW-26-00043-P2", opened, opened))
    assert (len(root), root[0]) == (22, 1) and later[:22] == root, "the header block, then one response level"
    filetime = int((opened - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()) * 10_000_000
    assert int.from_bytes(root[1:6], "big") == filetime >> 24
    level = int.from_bytes(later[22:26], "big")
    assert level >> 31 == 0 and (level & 0x7FFFFFFF) << 18 == (3 * 86_400 * 10_000_000) >> 18 << 18
    assert other[6:22] != root[6:22], "another case, another conversation"
    years = base64.b64decode(thread_index("doe.example.gov", "CW-26-00042-K7", opened, opened + timedelta(days=800)))
    assert int.from_bytes(years[22:26], "big") >> 31 == 1, "past about 1.8 years the coarser delta code"
    assert thread_topic("CW-26-00042-K7", " My  pension\nstatement ") == "[CW-26-00042-K7] My pension statement"

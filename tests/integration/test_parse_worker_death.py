"""A parse worker that dies (the kernel kills it for its memory, a crash in C code takes it down) stops
nothing: the messages it was parsing are parsed again, one at a time, in a new worker; the one that kills that
one too is held in quarantine with the reason, never parsed in the hub's own process; every other message is
filed, the batches behind it too (SQLite and PostgreSQL).

Nor does a message whose parsing never ends: past [limits] parse_seconds the worker gives it up and goes on; a
worker that does not answer at all (stuck in C code the time limit cannot interrupt) is stopped, and is to the
hub as one that died."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.core.app import open_hub
from hub.core.models import QuarantineItem
from hub.intake.parse.email import parse_email
from hub.intake.parse.workers import ParseWorkers, WorkerUnavailable, parse_stage
from tests.helpers import email, make_office, tally
from tests.parse_killer import CORES, ONCE_MARK, die, hang

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WORKER_DIED = "the parse worker process died while parsing this message"
WORKER_STUCK = "the parse worker did not answer while parsing this message and was stopped ([limits] parse_seconds)"


def drained_with_the_killing_parser(office: Path, batch_size: int, cores: int | None = None,
                                    timeout: float = 300) -> tuple[dict[str, int], str]:
    """The inbox drained in a process of its own (tests.parse_killer), which sees `cores` cores when given: its
    fates, and what it wrote on stderr."""
    result = subprocess.run([sys.executable, "-c", "from tests.parse_killer import main; main()",
                             str(office / "config" / "hub.toml"), str(batch_size)],
                            cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, ONCE_MARK: str(office / "killed-once"),
                                 **({CORES: str(cores)} if cores else {})})
    assert result.returncode == 0, f"the hub's process ended with {result.returncode}: {result.stderr[-2000:]}"
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def fill_inbox(office: Path, kills: str, before: int, after: int, mark: str = "X-Test-Kills-Parser") -> bytes:
    """`before` + `after` messages around one marked `X-Test-Kills-Parser: kills` (or another `mark`); returns the
    marked one."""
    new = office / "var" / "inbox" / "new"
    new.mkdir(parents=True, exist_ok=True)
    marked = b""
    for number in range(before + after + 1):
        headers = {mark: kills} if number == before else {}
        raw = email(sender=f"person{number}@example.com", subject=f"Help number {number}", headers=headers)
        (new / f"{number:03d}.mail").write_bytes(raw)
        marked = raw if number == before else marked
    return marked


def left_in_inbox(office: Path) -> list[str]:
    return [path.name for sub in ("new", "cur") for path in (office / "var" / "inbox" / sub).iterdir()]


def test_a_message_that_kills_every_parse_worker_is_quarantined_and_the_rest_filed(tmp_path: Path,
                                                                                 database_url: str) -> None:
    office = tmp_path / "office"
    make_office(office, database_url).close()
    poison = fill_inbox(office, "always", before=5, after=14)  # batches of 4: the poison in the second

    fates, stderr = drained_with_the_killing_parser(office, batch_size=4)

    assert fates == {"new-case": 19, "quarantine": 1}
    assert "Traceback" not in stderr
    assert "the parse worker stopped" in stderr, stderr
    assert left_in_inbox(office) == []
    hub = open_hub(office / "config" / "hub.toml")
    try:
        with hub.sessions() as session:
            [held] = session.scalars(select(QuarantineItem)).all()
        assert (held.raw, held.reason) == (poison, WORKER_DIED)
        assert tally(hub).cases == 19
    finally:
        hub.close()


def test_a_worker_killed_once_costs_nothing_but_its_restart(tmp_path: Path, database_url: str) -> None:
    office = tmp_path / "office"
    make_office(office, database_url).close()
    fill_inbox(office, "once", before=5, after=14)

    fates, stderr = drained_with_the_killing_parser(office, batch_size=4)

    assert (office / "killed-once").exists(), "a worker was killed"
    assert fates == {"new-case": 20}
    assert "Traceback" not in stderr and "the parse worker stopped" in stderr
    assert left_in_inbox(office) == []


def with_parse_seconds(office: Path, seconds: int) -> None:
    config = office / "config" / "hub.toml"
    text = config.read_text()
    assert "\nparse_seconds = 60\n" in text, "the office's config sets parse_seconds"
    config.write_text(text.replace("\nparse_seconds = 60\n", f"\nparse_seconds = {seconds}\n", 1))


def held_reasons(office: Path) -> list[tuple[bytes, str]]:
    hub = open_hub(office / "config" / "hub.toml")
    try:
        with hub.sessions() as session:
            return [(held.raw, held.reason) for held in session.scalars(select(QuarantineItem))]
    finally:
        hub.close()


@pytest.mark.parametrize(("hang", "reason", "stopped"), [
    ("loop", "parsing took longer than 1 s ([limits] parse_seconds)", False),  # the worker gives it up, goes on
    ("deaf", WORKER_STUCK, True),  # the worker does not answer: the hub stops it
], ids=["interrupted", "stuck"])
def test_a_message_whose_parsing_never_ends_is_held_and_the_rest_filed(tmp_path: Path, database_url: str, hang: str,
                                                                      reason: str, stopped: bool) -> None:
    office = tmp_path / "office"
    make_office(office, database_url).close()
    with_parse_seconds(office, 1)
    endless = fill_inbox(office, hang, before=5, after=14, mark="X-Test-Hangs-Parser")

    fates, stderr = drained_with_the_killing_parser(office, batch_size=4)

    assert fates == {"new-case": 19, "quarantine": 1}
    assert "Traceback" not in stderr
    assert ("the parse worker stopped" in stderr) is stopped, stderr
    assert ("the parse worker stopped answering" in stderr) is stopped, stderr
    assert left_in_inbox(office) == []
    assert held_reasons(office) == [(endless, reason)]


def test_a_worker_that_does_not_answer_is_stopped_after_one_messages_time_however_many_it_was_given(
        tmp_path: Path, database_url: str) -> None:
    """Its limit is one message's (parse_seconds, and a new worker's start), counted from the moment it began the
    message it is on: counted from the task's start, a task of 20 messages held intake for 21 x parse_seconds
    (with the default 60 s and a chunk of 25 messages, 26 minutes) before the worker was stopped."""
    office = tmp_path / "office"
    make_office(office, database_url).close()
    with_parse_seconds(office, 1)
    deaf = fill_inbox(office, "deaf", before=5, after=14, mark="X-Test-Hangs-Parser")

    fates, stderr = drained_with_the_killing_parser(office, batch_size=20)

    assert fates == {"new-case": 19, "quarantine": 1}
    assert "Traceback" not in stderr
    assert "the parse worker stopped answering (more than 11 s on one message) and was stopped" in stderr, stderr
    assert held_reasons(office) == [(deaf, WORKER_STUCK)]


@pytest.mark.parametrize(("mark", "value", "reason"), [
    ("X-Test-Kills-Parser", "always", WORKER_DIED),
    ("X-Test-Hangs-Parser", "loop", "parsing took longer than 1 s ([limits] parse_seconds)"),
], ids=["killed", "endless"])
def test_on_a_single_core_too_a_message_the_parse_cannot_survive_is_held_and_the_rest_filed(
        tmp_path: Path, database_url: str, mark: str, value: str, reason: str) -> None:
    """A small office's virtual machine with one core: the parse still runs in a worker of its own, with its time
    limit; parsed in the hub's own process, the message would take the hub down with it, or hold it for ever."""
    office = tmp_path / "office"
    make_office(office, database_url).close()
    with_parse_seconds(office, 1)
    poison = fill_inbox(office, value, before=5, after=14, mark=mark)

    fates, stderr = drained_with_the_killing_parser(office, batch_size=4, cores=1, timeout=120)

    assert fates == {"new-case": 19, "quarantine": 1}
    assert "Traceback" not in stderr
    assert left_in_inbox(office) == []
    assert held_reasons(office) == [(poison, reason)]


def test_when_no_new_worker_can_start_no_message_is_blamed() -> None:
    """A worker that dies before it parses anything: the messages it had are not quarantined; the pass stops
    (a temporary failure), and the source keeps them for the next one."""
    context = multiprocessing.get_context("spawn")
    workers = ParseWorkers(lambda _progress: ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=die))
    parse = partial(parse_stage, parser=parse_email, max_message_bytes=10_000_000, max_attachment_bytes=10_000_000,
                    office_domain="example.gov")
    try:
        with pytest.raises(WorkerUnavailable, match="a new parse worker stopped before it could parse anything"):
            workers.parse_alone(parse, [(email(), "test")], 60)
    finally:
        workers.shutdown()


def test_when_a_new_worker_never_starts_no_message_is_blamed_and_the_pass_stops() -> None:
    """Workers that never get past their start: the one given a message is stopped as stuck, and its replacement,
    which would have held intake for ever, is given up after its start's time; nothing is quarantined."""
    context = multiprocessing.get_context("spawn")
    workers = ParseWorkers(lambda _progress: ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=hang))
    parse = partial(parse_stage, parser=parse_email, max_message_bytes=10_000_000, max_attachment_bytes=10_000_000,
                    office_domain="example.gov")
    try:
        with pytest.raises(WorkerUnavailable, match=r"^a new parse worker did not start within 30 s$"):
            workers.parse_alone(parse, [(email(), "test")], 1)
    finally:
        workers.shutdown(wait=False)


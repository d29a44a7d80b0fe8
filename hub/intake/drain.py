"""Drains an inbound source through the intake path, acknowledging each batch only after its commit.

A source hands out batches of (key, raw bytes); once every item in a batch has a durable fate, the
source is told which keys are done and which went to quarantine, and moves or flags them. A message over
[limits] max_message_bytes comes as its header alone, marked `oversized`: it is held in quarantine
unparsed, and the source keeps the message itself.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from hub.core import tallies
from hub.core.db import make_durable
from hub.intake.message import Oversized
from hub.intake.parse.workers import (
    Parse,
    Parsed,
    Parser,
    ParseWorkers,
    WorkerStuck,
    empty_task,
    parse_chunk,
    parse_stage,
    with_raw,
)
from hub.intake.pipeline import Batch, Intake, Outcome, Refile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    key: Hashable
    raw: bytes  # the whole message, or only its header when `oversized`
    source: str
    oversized: Oversized | None = None


class Source(Protocol):
    name: str

    def batches(self) -> Iterator[list[Item]]: ...

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None: ...


@dataclass
class Summary:
    """What one pass over a source did, for the command line and `hub status`."""

    fates: Counter[str] = field(default_factory=Counter)
    new_cases: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.fates[outcome.fate] += 1
        if outcome.fate == "new-case" and outcome.case_ref:
            self.new_cases.append(outcome.case_ref)

    @property
    def total(self) -> int:
        return sum(self.fates.values())

    def line(self) -> str:
        order = ("new-case", "case", "command", "triage", "duplicate", "quarantine")
        parts = [f"{self.fates[f]} {f}" for f in order if self.fates[f]]
        return f"{self.total} messages: " + (", ".join(parts) if parts else "nothing new")


def drain(intake: Intake, source: Source, parser: Parser,
          should_stop: Callable[[], bool] = lambda: False, workers: ParseWorkers | None = None) -> Summary:
    """Process every item the source has now; stop between messages when asked.

    With `workers`, each batch is parsed in another process while the previous one is filed: parsing
    (mail-parser) and filing (the database) each take about half of a message's time.
    """
    summary = Summary()
    limits = intake.config.limits
    parse = partial(parse_stage, parser=parser, max_message_bytes=limits.max_message_bytes,
                    max_attachment_bytes=limits.max_attachment_bytes, office_domain=intake.config.office.domain)
    for batch, parsed in _parsed_batches(source.batches(), parse, workers, limits.parse_seconds):
        results = list(parsed)  # the whole batch's results, for its one duplicate check
        try:
            filed = _file_batch(intake, batch, results, should_stop, careful=False)
        except Refile as failed:
            log.info("%s: a message failed; filing its batch of %d again, a savepoint a message (%s)", source.name,
                     len(batch), type(failed.__cause__).__name__)
            filed = _file_batch(intake, batch, results, should_stop, careful=True)
        # Committed (an outage raised above, and the source keeps the whole batch): now made durable, then
        # acknowledged, even when the batch was cut short.
        if filed:
            make_durable(intake.sessions)
            for _, outcome in filed:
                summary.add(outcome)
                tallies.add(tallies.MESSAGES, outcome.fate)
            source.acknowledge([item.key for item, outcome in filed if outcome.fate != "quarantine"],
                               [item.key for item, outcome in filed if outcome.fate == "quarantine"])
        if should_stop():
            break
    log.info("%s: %s", source.name, summary.line())
    return summary


def _file_batch(intake: Intake, batch: list[Item], results: list[Parsed | None], should_stop: Callable[[], bool],
                careful: bool) -> list[tuple[Item, Outcome]]:
    """File a batch in one transaction (hub.intake.pipeline.Batch), committed when this returns."""
    filed: list[tuple[Item, Outcome]] = []
    with Batch(intake, careful) as filing:
        filing.look_up(results)
        for item, result in zip(batch, results, strict=True):
            if item.oversized is not None:
                outcome = filing.hold_oversized(item.raw, item.source, item.oversized)
            else:
                assert result is not None
                outcome = filing.file(item.raw, item.source, result)
            filed.append((item, outcome))
            if should_stop():
                break
    return filed


# Messages per task sent to the parse worker: one task per message costs more in queueing than a
# small message takes to parse; the first results still come back soon after a batch arrives.
PARSE_CHUNK = 25


def _parsed_batches(batches: Iterator[list[Item]], parse: Parse, workers: ParseWorkers | None,
                    seconds: int) -> Iterator[tuple[list[Item], Iterator[Parsed | None]]]:
    """Each batch with its parse results (None for an oversized item, which is not parsed); with
    workers, the next batch is being parsed meanwhile, each message given `seconds` there. (Without, as for texts,
    whose parse is a few fields of a form, a message is parsed in the hub's own process, with no time limit.)"""
    if workers is None:
        for batch in batches:
            yield batch, (None if item.oversized else parse(item.raw, item.source) for item in batch)
        return
    ahead: tuple[list[Item], list[Future[list[Parsed]]]] | None = None
    for batch in batches:
        submitted = (batch, [workers.submit(parse_chunk, parse, _parseable(chunk), seconds)
                             for chunk in _chunks(batch)])
        # The pool's queue holds a pickled copy of the last task it sent until it sends the next one: an
        # empty task after each batch lets the copy of a large message go as soon as it is across.
        workers.submit(empty_task)
        if ahead is not None:
            yield ahead[0], _results(*ahead, parse, workers, seconds)
        ahead = submitted
    if ahead is not None:
        yield ahead[0], _results(*ahead, parse, workers, seconds)


def _chunks(batch: list[Item]) -> list[list[Item]]:
    return [batch[start:start + PARSE_CHUNK] for start in range(0, len(batch), PARSE_CHUNK)]


def _parseable(chunk: list[Item]) -> list[tuple[bytes, str]]:
    return [(item.raw, item.source) for item in chunk if item.oversized is None]


def _results(batch: list[Item], futures: list[Future[list[Parsed]]], parse: Parse, workers: ParseWorkers,
             seconds: int) -> Iterator[Parsed | None]:
    """The batch's results in order. Each chunk's future is let go once read: kept, the futures would hold a
    whole batch's parsed messages until its last one is filed."""
    for chunk in _chunks(batch):
        future = futures.pop(0)
        parseable = _parseable(chunk)
        try:
            results = workers.results(future, seconds)
        except BrokenProcessPool as stopped:  # the worker died (the kernel killed it for its memory, a crash in C
            # code), or did not answer and was stopped
            log.error("%s; parsing its %d messages again, one at a time, in a new one",
                      stopped if isinstance(stopped, WorkerStuck) else "the parse worker stopped", len(parseable))
            results = workers.parse_alone(parse, parseable, seconds)
        except Exception as error:  # its results could not come back: parse here, where every failure is the
            # message's own
            log.error("parse worker failed (%s); parsing %d messages in the main process", type(error).__name__,
                      len(parseable))
            results = [parse(raw, source) for raw, source in parseable]
        parsed = iter(results)
        for item in chunk:
            yield None if item.oversized else with_raw(next(parsed), item.raw)

"""Drains an inbound source through the intake path, acknowledging each batch only after its commits.

A source hands out batches of (key, raw bytes); once every item in a batch has a durable fate, the
source is told which keys are done and which went to quarantine, and moves or flags them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from hub.db import make_durable
from hub.intake.pipeline import Intake, Outcome, Parsed, Parser, file_parsed, parse_stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    key: Hashable
    raw: bytes
    source: str


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
        order = ("new-case", "case", "triage", "duplicate", "quarantine")
        parts = [f"{self.fates[f]} {f}" for f in order if self.fates[f]]
        return f"{self.total} messages: " + (", ".join(parts) if parts else "nothing new")


def drain(intake: Intake, source: Source, parser: Parser,
          should_stop: Callable[[], bool] = lambda: False, workers: Executor | None = None) -> Summary:
    """Process every item the source has now; stop between messages when asked.

    With `workers`, each batch is parsed in another process while the previous one is filed: parsing
    (mail-parser) and filing (the database) each take about half of a message's time.
    """
    summary = Summary()
    limits = intake.config.limits
    parse = partial(parse_stage, parser=parser, max_message_bytes=limits.max_message_bytes,
                    max_attachment_bytes=limits.max_attachment_bytes)
    for batch, parsed in _parsed_batches(source.batches(), parse, workers):
        done: list[Hashable] = []
        quarantined: list[Hashable] = []
        try:
            for item, result in zip(batch, parsed, strict=False):  # a cut-short batch leaves results unread
                outcome = file_parsed(intake, item.raw, item.source, result)
                summary.add(outcome)
                (quarantined if outcome.fate == "quarantine" else done).append(item.key)
                if should_stop():
                    break
        finally:
            # Whatever committed is acknowledged even when the batch is cut short, once it is on disk.
            if done or quarantined:
                make_durable(intake.sessions)
                source.acknowledge(done, quarantined)
        if should_stop():
            break
    log.info("%s: %s", source.name, summary.line())
    return summary


Parse = Callable[[bytes, str], Parsed]


def _parsed_batches(batches: Iterator[list[Item]], parse: Parse,
                    workers: Executor | None) -> Iterator[tuple[list[Item], Iterator[Parsed]]]:
    """Each batch with its parse results; with workers, the next batch is being parsed meanwhile."""
    if workers is None:
        for batch in batches:
            yield batch, (parse(item.raw, item.source) for item in batch)
        return
    ahead: tuple[list[Item], list[Future[Parsed]]] | None = None
    for batch in batches:
        submitted = (batch, [workers.submit(parse, item.raw, item.source) for item in batch])
        if ahead is not None:
            yield ahead[0], _results(ahead, parse)
        ahead = submitted
    if ahead is not None:
        yield ahead[0], _results(ahead, parse)


def _results(submitted: tuple[list[Item], list[Future[Parsed]]], parse: Parse) -> Iterator[Parsed]:
    for item, future in zip(*submitted, strict=True):
        try:
            yield future.result()
        except BrokenProcessPool:  # a worker died (out of memory, a crash in C code): parse here instead
            log.error("parse worker failed; parsing %s in the main process", item.source)
            yield parse(item.raw, item.source)


@contextmanager
def parse_workers() -> Iterator[Executor | None]:
    """One parsing process beside this one where there is a second core; none on a single core."""
    if (os.cpu_count() or 1) < 2:
        yield None
        return
    # forkserver, not fork: a forked worker would inherit this process's database connections and
    # keep a killed hub's transaction (and its row locks) open on PostgreSQL.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_worker_setup, initargs=(os.getpid(),)) as workers:
        yield workers


def _worker_setup(hub_pid: int) -> None:
    """In a parse worker: log like the hub, and leave when the hub process is gone, even if it was
    killed (SIGKILL gives the pool no chance to stop its worker, which would wait on its queue for ever)."""
    logging.getLogger("mailparser").setLevel(logging.ERROR)

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(hub_pid, 0)
            except ProcessLookupError:
                os._exit(0)

    threading.Thread(target=watch, name="hub-watch", daemon=True).start()

"""Drains an inbound source through the intake path, acknowledging each batch only after its commits.

A source hands out batches of (key, raw bytes); once every item in a batch has a durable fate, the
source is told which keys are done and which went to quarantine, and moves or flags them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from hub.db import make_durable
from hub.intake.pipeline import Intake, Outcome, Parser, process

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
    triage: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.fates[outcome.fate] += 1
        if outcome.fate == "new-case" and outcome.case_ref:
            self.new_cases.append(outcome.case_ref)
        elif outcome.fate == "triage":
            self.triage.append(outcome.reason)

    @property
    def total(self) -> int:
        return sum(self.fates.values())

    def line(self) -> str:
        order = ("new-case", "case", "triage", "duplicate", "quarantine")
        parts = [f"{self.fates[f]} {f}" for f in order if self.fates[f]]
        return f"{self.total} messages: " + (", ".join(parts) if parts else "nothing new")


def drain(intake: Intake, source: Source, parser: Parser,
          should_stop: Callable[[], bool] = lambda: False) -> Summary:
    """Process every item the source has now; stop between messages when asked."""
    summary = Summary()
    for batch in source.batches():
        done: list[Hashable] = []
        quarantined: list[Hashable] = []
        try:
            for item in batch:
                outcome = process(intake, item.raw, item.source, parser)
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

"""An outage of the outbound mail server, told in two log lines rather than one per letter per try.

The first delivery attempt that cannot reach the server logs a warning (why, and how many letters wait);
the tries after it log at DEBUG (each row keeps its error); the first answer from the server logs one more
line, with how long the outage lasted and how many tries it refused. The daemon keeps one `Outage` for its
whole life, so an outage spans its delivery passes; each `hub run --once` has its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hub.core import redact
from hub.core.clock import spoken_duration

log = logging.getLogger(__name__)


@dataclass
class Outage:
    since: datetime | None = None  # when the first try failed; None: the server answers
    refused_tries: int = 0

    @property
    def is_on(self) -> bool:
        return self.since is not None

    def refused(self, reason: str, now: datetime, waiting: Callable[[], int]) -> None:
        """A try found the server unreachable; `waiting` counts the letters held up, asked only to log it."""
        self.refused_tries += 1
        if self.since is None:
            self.since = now
            log.warning("outbound mail server unreachable: %s; %d letters waiting", redact.addresses(reason),
                        waiting())
        else:
            log.debug("outbound mail server still unreachable: %s", redact.addresses(reason))

    def answered(self, now: datetime, waiting: Callable[[], int]) -> None:
        """The server answered a try (whatever it said): an outage, if there was one, is over."""
        if self.since is None:
            return
        log.warning("outbound mail server reachable again after %s; %d tries failed meanwhile, %d letters "
                    "still waiting", spoken_duration(now - self.since), self.refused_tries, waiting())
        self.since, self.refused_tries = None, 0

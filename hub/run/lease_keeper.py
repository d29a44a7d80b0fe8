"""Keeps a named lease (hub.core.leases) for as long as a process may want its work: a thread claims it every
RENEW_SECONDS, which renews it while this process holds it and takes it over once its holder has let it
expire (died, or lost the database), then tells the owner (`on_gain`), so that the work starts within
TERM + RENEW_SECONDS of the holder's death. Closing the keeper releases the lease, so a clean stop hands
the work over at the next claim of another process.

`held` is what the work asks between its steps: True while this process's last successful claim is less
than TERM - MARGIN old, measured from before that claim was sent. A holder whose renewals fail (the database
unreachable) so stops before its lease can expire and pass to another process, even if this host's clock
and the database's drift apart by up to MARGIN. That age is read from a clock that goes on while the machine is
suspended (`uptime`): one that stood still would let a holder that wakes after its lease expired, and passed to
another process, go on with the work until its next renewal failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.core.leases import Holder, Holding, claim, holder_of, release
from hub.core.logs import office_thread_prefix
from hub.sources.backoff import one_line

log = logging.getLogger(__name__)
TERM = timedelta(seconds=15)
RENEW_SECONDS = 5.0
MARGIN = 3.0  # seconds before the lease's expiry at which its holder stops doing the work


def uptime() -> float:
    """Seconds on a clock that never goes back and counts the time the machine was suspended (Linux's
    CLOCK_BOOTTIME; elsewhere `time.monotonic`, which on Linux stands still while the machine sleeps)."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


class LeaseKeeper:
    def __init__(self, sessions: sessionmaker[Session], name: str, on_gain: Callable[[], None] = lambda: None,
                 holder: Holder | None = None, term: timedelta = TERM, every: float = RENEW_SECONDS) -> None:
        self.sessions = sessions
        self.name = name
        self.holder = holder or Holder()
        self.on_gain = on_gain
        self.term = term
        self.every = every
        self._until = 0.0  # the `uptime()` before which this process holds the lease
        self._lock = threading.Lock()  # one claim at a time: the thread's and the work's own
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return uptime() < self._until

    def claim(self) -> bool:
        """Claim the lease now (take it, or renew it); whether this process holds it. Database errors are raised."""
        with self._lock:
            was_held, sent = self.held, uptime()
            if not claim(self.sessions, self.name, self.holder, self.term):
                self._until = 0.0
                if was_held:
                    log.warning("%s: another hub process took it over; this one stops its work on it", self.name)
                return False
            self._until = sent + self.term.total_seconds() - MARGIN
        if not was_held:
            log.info("%s: this process holds it now", self.name)
        return True

    def try_claim(self) -> bool:
        """`claim`, a database error counting as not held (logged at DEBUG: the work's own use of the database
        reports the outage)."""
        try:
            return self.claim()
        except (SQLAlchemyError, OSError) as error:
            log.debug("%s: could not claim it: %s", self.name, one_line(error))
            return False

    def holding(self) -> Holding | None:
        """Who holds the lease, as the database says."""
        with self.sessions() as session:
            return holder_of(session, self.name)

    def start(self) -> LeaseKeeper:
        """Claim now and then every `every` seconds in a thread, until `close`."""
        # Named after the office whose thread starts it, in a deployment: its log lines then name the office.
        self._thread = threading.Thread(target=self._keep, name=f"{office_thread_prefix()}lease {self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop claiming, and give the lease up if this process holds it: also when an interrupt (Ctrl-C) comes
        while this waits for the renewal thread, since a lease left behind keeps every other process from the
        work for a whole term."""
        self._closing.set()
        try:
            if self._thread is not None:
                self._thread.join(30)
        finally:
            with self._lock:
                held, self._until = self.held, 0.0
            if held:
                try:
                    release(self.sessions, self.name, self.holder)
                except SQLAlchemyError as error:  # it expires by itself
                    log.debug("%s: could not release it: %s", self.name, one_line(error))

    def __enter__(self) -> LeaseKeeper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep(self) -> None:
        while not self._closing.is_set():
            was_held = self.held
            if self.try_claim() and not was_held:
                self.on_gain()
            self._closing.wait(self.every)

"""`hub run --deployment FILE`: the offices of a deployment file (hub.run.deployment) assigned to this
worker, in one process.

Each office runs as a single office's daemon does (hub.run.daemon), in a thread of its own with its own
event loop, so that nothing one office does holds up another's timers. An office that cannot start (its
configuration, its database) or whose daemon stops on a configuration error is logged with its name and
tried again after growing pauses (1 s doubling to 5 minutes), as a job is; the others run on. SIGTERM or
SIGINT stops every office (the current message finishing first); a second one stops them at once.

Under systemd (`Type=notify`) the process says READY=1 once each office runs or has failed its first attempt
(its STATUS names those not running yet), and with a watchdog pings it while every running office's event
loop answers and none of its jobs is stuck (`watch` says why a job merely failing keeps the pings going).

Every log line written in an office's threads, and in the parse worker processes its inbox starts, starts
with the office's name (hub.core.logs.name_offices). The connections to the shared
PostgreSQL server are budgeted per process, not per office: at most JOBS_AT_ONCE jobs of all its offices run
at a time (the others wait for a turn), each office's engine keeps a small pool (POOL), and an office lets its
connections go when none of its jobs runs. So a process holds at most about JOBS_AT_ONCE × 3 connections,
however many offices it runs (README "Scaling out" has the figures).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, replace
from datetime import datetime
from types import FrameType

from hub.core import redact
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock, spoken_duration
from hub.core.errors import UserError
from hub.core.logs import OFFICE_THREAD as THREAD
from hub.core.logs import office_names_in_logs
from hub.run.cycle import Cycle, run_once
from hub.run.daemon import Daemon, quiet_scheduler
from hub.run.deployment import Deployment, OfficeEntry, Worker
from hub.run.jobs import Job, ShouldStop
from hub.run.sd_notify import Notifier, Watchdog
from hub.sources.backoff import FIRST_PAUSE, Backoff, one_line

log = logging.getLogger(__name__)
# Each office's PostgreSQL pool: one connection kept, three more while jobs overlap (a delivery pass holds its sent
# marks' and its records' connections, and takes a third for a moment).
POOL = (1, 3)
NO_POOL = (0, 0)  # hub.core.db: each connection closed when given back
JOBS_AT_ONCE = 8  # jobs of a process's offices running at the same time
Prepare = Callable[[Hub], None]  # what the command line checks before an office runs (its letters, …)
Announce = Callable[[str], None]


@dataclass
class OnceResult:
    cycles: dict[str, Cycle]
    failed: dict[str, str]  # office name: why, in one line


def run_offices_once(deployment: Deployment, worker: Worker, prepare: Prepare, announce: Announce,
                     at: datetime | None = None) -> OnceResult:
    """One cycle of each assigned office, one after another; an office that fails is reported and the
    next one runs."""
    result = OnceResult({}, {})

    def cycle(office: OfficeEntry) -> None:
        try:
            hub = open_hub(office.config, FixedClock(at) if at else None, POOL)
            try:
                prepare(hub)
                result.cycles[office.name] = run_once(hub, lambda line: announce(f"{office.name}: {line}"))
            finally:
                hub.close()
        except Exception as error:  # one office's failure is its own; the next office runs
            result.failed[office.name] = _reason(error)
            log.error("cannot run: %s", result.failed[office.name])

    with office_names_in_logs():
        for office in deployment.assigned(worker):
            thread = threading.Thread(target=cycle, args=(office,), name=THREAD + office.name)
            thread.start()
            thread.join()
    return result


def run_offices(deployment: Deployment, worker: Worker, prepare: Prepare, announce: Announce,
                first_pause: float = FIRST_PAUSE) -> bool:
    """Run the assigned offices' daemons until SIGTERM or SIGINT. Returns True when a job was left running
    at the stop (the caller then exits at once, as `hub run` does)."""
    quiet_scheduler()
    turns = threading.BoundedSemaphore(JOBS_AT_ONCE)
    offices = [OfficeThread(office, prepare, announce, first_pause, turns) for office in deployment.assigned(worker)]
    signalled = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        signalled.set()
    before = {number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)}
    notifier = Notifier()
    watching = threading.Event()  # set: the watchdog's thread stops
    try:
        with office_names_in_logs():
            for office in offices:
                office.thread.start()
            line = (f"hub running {len(offices)} of the {len(deployment.offices)} offices of {deployment.path} "
                    f"(worker {worker.index}/{worker.count}); SIGTERM stops")
            announce(line)
            ready = False
            while any(office.thread.is_alive() for office in offices):
                if not ready and all(office.settled.is_set() or not office.thread.is_alive() for office in offices):
                    ready = True  # each office runs, or has failed once and is tried again: systemd need wait no more
                    waiting = [office.entry.name for office in offices if not office.running]
                    status = line + (f"; not running yet: {', '.join(waiting)}" if waiting else "")
                    notifier.send("READY=1", f"STATUS={status}")
                    if notifier.watchdog:
                        threading.Thread(target=watch, args=(offices, Watchdog(notifier, status), watching),
                                         name="deployment watchdog", daemon=True).start()
                if signalled.wait(0.2):
                    signalled.clear()
                    watching.set()
                    notifier.send("STOPPING=1")
                    for office in offices:
                        office.stop()
            return any(office.abandoned for office in offices)
    finally:
        watching.set()
        for number, handler in before.items():
            signal.signal(number, handler)


def watch(offices: list[OfficeThread], watchdog: Watchdog, stopping: threading.Event) -> None:
    """Every half of systemd's watchdog period: WATCHDOG=1 while each running office's event loop answers and
    none of its jobs is stuck (running, and silent since its last sign of life); silence while one is, which
    has systemd restart the process, the one way to free a thread. A job that is stale because its server
    fails is reported (STATUS, a warning) but keeps the pings going: restarting every office of the process
    would not bring one office's mail server back. An office not running (starting, or waiting to try again
    after a failure) is logged as such and is no reason to restart either."""
    period = watchdog.notifier.watchdog
    assert period is not None
    answer = period / 4  # how long an office's loop has to answer: pings stay half a period apart
    while not stopping.is_set():
        began = time.monotonic()
        asked = [(office.entry.name, office.ask()) for office in offices]
        silenced: list[str] = []
        degraded: list[str] = []
        for name, future in asked:
            if future is None:
                continue
            try:
                stale = future.result(max(began + answer - time.monotonic(), 0))
            except TimeoutError:
                future.cancel()
                silenced.append(f"{name}: its thread has not answered for {answer:g} s")
                continue
            except CancelledError:  # its loop stopped meanwhile: the office is stopping or starting again
                continue
            for problem, stuck in stale:
                (silenced if stuck else degraded).append(f"{name}: {problem}")
        if not stopping.is_set():
            watchdog.tell("; ".join(silenced), "; ".join(degraded))
        stopping.wait(max(period / 2 - (time.monotonic() - began), 0))


class OfficeThread:
    """One office's daemon in its thread, started again after a failure until the process stops."""

    def __init__(self, entry: OfficeEntry, prepare: Prepare, announce: Announce, first_pause: float,
                 turns: threading.BoundedSemaphore) -> None:
        self.entry, self.prepare, self.announce, self.turns = entry, prepare, announce, turns
        self._jobs_running = 0
        self.backoff = Backoff(first_pause)
        self.thread = threading.Thread(target=self._run, name=THREAD + entry.name)
        self.abandoned = False
        self._stopped = threading.Event()
        self.settled = threading.Event()  # it has run, or failed to, once: what READY=1 waits for
        self._lock = threading.Lock()
        self._running: tuple[asyncio.AbstractEventLoop, Daemon] | None = None
        self._told = ""  # the failure last logged, while it lasts: one line when it starts, not one per retry

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._running is not None:
                loop, daemon = self._running
                try:
                    loop.call_soon_threadsafe(daemon.request_stop)
                except RuntimeError:  # its loop has just closed: it is stopping anyway
                    pass

    @property
    def running(self) -> bool:
        return self._running is not None

    def ask(self) -> Future[list[tuple[str, bool]]] | None:
        """Its daemon's stale jobs (hub.run.daemon.Daemon.stale_jobs), asked through its event loop, which so
        shows that it turns; None while the office does not run."""
        with self._lock:
            if self._running is None:
                return None
            loop, daemon = self._running
            try:
                return asyncio.run_coroutine_threadsafe(_stale_jobs(daemon), loop)
            except RuntimeError:  # its loop has just closed
                return None

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                hub, lone = self._start()
            except Exception as error:  # its configuration, its database, its letters: tried again, the others run on
                self._failed(error)
                continue
            try:
                # The daemon's own writes through `lone`; the jobs' work through the pooled `hub`, in turns.
                daemon = Daemon(lone, signals=False, thread_name=f"{THREAD}{self.entry.name} job")
                daemon.jobs = {name: replace(job, work=self._in_turn(job, hub)) for name, job in daemon.jobs.items()}
                asyncio.run(self._serve(daemon))
                self.abandoned = self.abandoned or daemon.abandoned
                return
            except Exception as error:  # a ConfigError raised when its daemon stopped on one, or its start
                self._failed(error)
            finally:
                hub.close()
                lone.close()

    def _start(self) -> tuple[Hub, Hub]:
        """The office opened twice (pooled, and keeping no connection) and checked, in a turn of the process's:
        a hundred offices starting at once would otherwise open a hundred connections."""
        with self.turns:
            hub = open_hub(self.entry.config, pool=POOL)
            try:
                lone = open_hub(self.entry.config, pool=NO_POOL)
            except BaseException:
                hub.close()
                raise
            try:
                self.prepare(hub)
            except BaseException:
                hub.close()
                lone.close()
                raise
            hub.engine.dispose()  # the connection the checks used is not kept while the office waits
            return hub, lone

    def _in_turn(self, job: Job, hub: Hub) -> Callable[[Hub, ShouldStop], bool]:
        """The job's work on the pooled `hub` when the process gives it a turn; the pool's connections closed
        when the office's last running job ends."""
        def work(_lone: Hub, should_stop: ShouldStop) -> bool:
            with self.turns:
                if should_stop():  # stopped while it waited for its turn: nothing begun, nothing to finish
                    return False
                with self._lock:
                    self._jobs_running += 1
                try:
                    return job.work(hub, should_stop)
                finally:
                    with self._lock:
                        self._jobs_running -= 1
                        if not self._jobs_running:
                            hub.engine.dispose()  # none checked out: each is closed, and a new pool waits empty
        return work

    async def _serve(self, daemon: Daemon) -> None:
        running = asyncio.create_task(daemon.run(self._started))
        await asyncio.sleep(0)  # the daemon has made its stop event: request_stop may be called now
        with self._lock:
            self._running = (asyncio.get_running_loop(), daemon)
            if self._stopped.is_set():
                daemon.request_stop()
        try:
            await running
        finally:
            with self._lock:
                self._running = None

    def _started(self, line: str) -> None:
        """The office's daemon runs: its start line, after a note of the failures before it."""
        self.settled.set()
        if self.backoff.failures:
            log.warning("running again after %d failed attempts over %s", self.backoff.failures,
                        spoken_duration(self.backoff.failing_for()))
            self.backoff.reset()
            self._told = ""
        self.announce(f"{self.entry.name}: {line}")

    def _failed(self, error: Exception) -> None:
        pause, reason = self.backoff.next_pause(), _reason(error)
        if reason == self._told:
            log.debug("still cannot run: %s; trying again in %.0f s", reason, pause)
        else:
            log.error("cannot run: %s; trying again in %.0f s, and quietly until it runs", reason, pause)
        self._told = reason
        self.settled.set()
        self._stopped.wait(pause)


async def _stale_jobs(daemon: Daemon) -> list[tuple[str, bool]]:
    return daemon.stale_jobs()


def _reason(error: BaseException) -> str:
    """One line: a mistake of the office's (its configuration, its schema) as the hub says it; anything
    else with its type, and the line of code for a bug (hub.sources.backoff.one_line)."""
    return redact.addresses(str(error) if isinstance(error, UserError) else one_line(error))


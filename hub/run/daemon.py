"""`hub run`: the daemon. Runs the office's jobs (hub.run.jobs; APScheduler on asyncio, each run in a worker
thread), and the web app when [web] is configured (hub.run.web, in the same loop), until SIGTERM or SIGINT,
then lets the current message and the requests under way finish and stops. Every job runs once at
start; the inbox runs again the moment the IDLE watcher sees new mail, the outbox after another job
filed or queued something. The inbox is read only while this process holds its lease (hub.run.lease_keeper;
several daemons may share one database): another daemon takes it over within 30 s of this one's death, and
at its next claim (5 s) after a clean stop, which releases it.

A job runs one instance at a time; a wake-up that comes while it runs makes it run again right after.
A job that fails for now is tried again after growing pauses (1 s doubling to 5 minutes), and its last
success and error are kept for `hub status`; only a configuration error stops the daemon. Jobs use the
hub's clock for what they decide; the scheduler uses the real time.

Under systemd (`Type=notify`, hub.run.sd_notify) it says READY=1 with the start line, once the IDLE
watcher has connected (or given up for now); with a watchdog it pings at half its period while no job is
stale (hub.run.health.job_problems, judged from memory: the database may be what failed), and falls silent
when one is, so that systemd restarts it; STOPPING=1 at a stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub.core import redact
from hub.core.app import Hub
from hub.core.clock import spoken_duration
from hub.core.db import redact_url, schema_changed
from hub.core.errors import ConfigError, SchemaError, UserError
from hub.oauth2.source import office_tokens
from hub.run.cycle import inbox_lease_name, inbox_name, inbox_tokens
from hub.run.health import RUNNING_GRACE, job_problems
from hub.run.heartbeat import JOB_PREFIX, record, record_failure_quietly
from hub.run.jobs import Job, ShouldStop, office_jobs
from hub.run.lease_keeper import LeaseKeeper
from hub.run.sd_notify import Notifier, Watchdog
from hub.run.web import host, web_server
from hub.run.web_server import WebServer
from hub.sources.backoff import FIRST_PAUSE, Backoff, is_temporary, one_line
from hub.sources.imap import ImapAddress
from hub.sources.imap_idle import IdleWatcher

log = logging.getLogger(__name__)
# How long a stop waits for the running jobs to finish their current message; after that they are left
# (a second signal leaves them at once): every step is safe to replay at the next start.
STOP_GRACE_SECONDS = 20.0
PROBE_SECONDS = 10.0  # how long the start line waits to say whether the IMAP server offers IDLE
DESCRIBED = ("inbox", "sms", "outbox", "reminders", "report", "digest", "triage")  # the order of the start line


class Daemon:
    def __init__(self, hub: Hub, jobs: list[Job] | None = None, first_pause: float = FIRST_PAUSE,
                 notifier: Notifier | None = None, signals: bool = True, thread_name: str = "hub-job") -> None:
        """`signals`: whether SIGTERM and SIGINT stop it (False where a deployment's process stops each of its
        offices, hub.run.offices); `thread_name`: the prefix of its job threads' names."""
        self.hub = hub
        self.signals = signals
        self.notifier = notifier or Notifier({})
        self.tokens = office_tokens(hub.config)  # one OAuth 2.0 token, refreshed as it ages, for every login
        # One hub process at a time reads the inbox; this one takes it over when its holder stops or dies.
        self.inbox_keeper = LeaseKeeper(hub.sessions, inbox_lease_name(hub),
                                        on_gain=lambda: self._from_thread(self.wake, "inbox")) if jobs is None else None
        self.jobs = {job.name: replace(job, work=_schema_checked(job.work))
                     for job in (office_jobs(hub, self.tokens, self.inbox_keeper) if jobs is None else jobs)}
        self.stopping = threading.Event()  # the jobs' threads look at it between messages
        self.abandoned = False  # a job was still running when the daemon stopped
        # Threads of our own rather than asyncio's default ones: a thread stuck in a network call must
        # not hold up the end of asyncio.run (which waits for the default executor's threads).
        self._threads = ThreadPoolExecutor(max_workers=len(self.jobs) + 3, thread_name_prefix=thread_name)
        self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._backoffs = {name: Backoff(first_pause) for name in self.jobs}
        self._told_failure: dict[str, str] = {}  # the failure last logged of each job failing now
        self._pending: set[str] = set()  # woken while running: run again right after
        self._running: set[str] = set()
        self._watcher: IdleWatcher | None = None
        self._fatal: UserError | None = None
        self._hurry = asyncio.Event()
        # Bound now: a port in use is an error before any job runs.
        self._web: WebServer | None = web_server(hub, self.inbox_keeper) if hub.config.web is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        # For the watchdog, in real time: when the daemon started, each job's last success, and the last sign
        # of life (its start when it was not stale, or a look at whether to stop, between messages) of each job
        # running now.
        self._started = datetime.now(UTC)
        self._successes: dict[str, datetime] = {}
        self._alive: dict[str, datetime] = {}
        self._began: dict[str, datetime] = {}  # when each job running now began its run

    async def run(self, announce: Callable[[str], None]) -> None:
        """Until a signal or a configuration error (raised once everything has stopped)."""
        loop = self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        hosting: asyncio.Task[bool] | None = None
        for number in (signal.SIGTERM, signal.SIGINT) if self.signals else ():
            loop.add_signal_handler(number, self.request_stop)
        try:
            if self.inbox_keeper is not None:  # first: the IDLE watcher connects only for the lease's holder
                await loop.run_in_executor(self._threads, self.inbox_keeper.try_claim)
            self._watcher = self._make_watcher()
            if self._watcher is not None:
                self._watcher.start()
                await loop.run_in_executor(self._threads, self._watcher.ready.wait, PROBE_SECONDS)
            if not self._stop.is_set():
                now = datetime.now(UTC)
                for job in self.jobs.values():
                    self._scheduler.add_job(self._run, job.trigger, args=[job.name], id=job.name, name=job.name,
                                            next_run_time=now)
                self._scheduler.start()
                if self.inbox_keeper is not None:
                    self.inbox_keeper.start()
                hosting = asyncio.create_task(host(self.hub, self._web, self._stop, self._hurry)) if self._web else None
                line = self.describe()
                announce(line)
                self.notifier.send("READY=1", f"STATUS={line}")
                watchdog = asyncio.create_task(self._watchdog(line)) if self.notifier.watchdog else None
                await self._stop.wait()
                if watchdog is not None:
                    watchdog.cancel()
            await self._shut_down()
            if hosting is not None and await hosting:
                self.abandoned = True
            log.info("stopped")
        finally:
            for number in (signal.SIGTERM, signal.SIGINT) if self.signals else ():
                loop.remove_signal_handler(number)
            self._threads.shutdown(wait=not self.abandoned, cancel_futures=True)
        if self._fatal is not None:
            raise self._fatal

    def request_stop(self) -> None:
        if self.stopping.is_set():
            log.warning("stopping now, without waiting for the running jobs")
            self._hurry.set()
            return
        log.info("stopping: the current message finishes first")
        self.notifier.send("STOPPING=1", "STATUS=stopping: the current message finishes first")
        self.stopping.set()
        assert self._stop is not None
        self._stop.set()

    def wake(self, name: str, cut_pause: bool = False) -> None:
        """Run a job now, or right after its current run. A job waiting out a failure keeps its pause unless
        `cut_pause`: the IDLE watcher's wake-up means the IMAP server answers again."""
        if name not in self.jobs or self.stopping.is_set():
            return
        self._pending.add(name)
        if name not in self._running and (cut_pause or not self._backoffs[name].failures):
            self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    def describe(self) -> str:
        """The start line: each job's source or destination and how often it runs."""
        names = sorted(self.jobs, key=lambda name: DESCRIBED.index(name) if name in DESCRIBED else len(DESCRIBED))
        parts = [self._describe(name, self.jobs[name].every) for name in names]
        if "sms" not in self.jobs:
            parts.insert(1, "no sms line" if self.hub.config.sms is None else "sms sending only (poll = false)")
        if self._web is not None:
            parts.append(f"web {self._web.address}")
        return "hub running: " + ", ".join(parts) + "; SIGTERM stops"

    def _describe(self, name: str, every: str) -> str:
        config = self.hub.config
        if name == "inbox":
            return f"inbox {inbox_name(self.hub)} ({self._inbox_mode(every)})"
        if name == "sms" and config.sms is not None:
            return f"sms {redact.addresses(config.sms.number)} {every}"
        if name == "outbox":
            return f"outbox {redact_url(config.outbound.url)} {every} and after new mail"
        if name == "report":
            return f"weekly report {every}"
        if name == "digest":
            return f"caseworker digest {every}"
        if name == "triage":
            return f"triage list {every}"
        return f"{name} {every}"

    def _inbox_mode(self, every: str) -> str:
        state = self._watcher.state if self._watcher is not None else "maildir"
        return {"maildir": f"checked {every}", "idle": f"IDLE, and checked {every}",
                "no-idle": f"no IDLE on the server: checked {every}",
                "standby": f"another hub process reads it: IDLE once this one does, checked {every}"}.get(
            state, f"not reachable yet: IDLE once it is, checked {every}")

    async def _run(self, name: str) -> None:
        """A run of a job, repeated while it was woken meanwhile; after a failure, the next attempt is
        scheduled after the job's next pause."""
        if self.stopping.is_set():
            return
        assert self._loop is not None
        job, backoff = self.jobs[name], self._backoffs[name]
        self._running.add(name)
        try:
            while True:
                self._pending.discard(name)
                try:
                    produced = await self._loop.run_in_executor(self._threads, self._attempt, job)
                except (ConfigError, SchemaError) as error:
                    self._fail_fatally(error)
                    return
                except Exception as error:  # a job never takes the daemon down; the pause keeps a bug from spinning
                    await self._failed(job, error)
                    return
                if backoff.failures:
                    log.warning("%s: working again after %d failed attempts over %s", name, backoff.failures,
                                spoken_duration(backoff.failing_for()))
                    self._told_failure.pop(name, None)
                backoff.reset()
                if produced:
                    self.wake("outbox")
                if name not in self._pending or self.stopping.is_set():
                    return
        finally:
            self._running.discard(name)

    def _attempt(self, job: Job) -> bool:
        """In a worker thread: the job's work, then its success recorded."""
        now = datetime.now(UTC)
        self._began[job.name] = now
        # Running counts from its last success, with RUNNING_GRACE for a slow call, only for a job that was not
        # stale: one that keeps failing starts again after each pause, and its start alone would make it look
        # healthy to the watchdog for as long as each attempt takes. A sign of life (should_stop) counts always.
        if not job_problems([job], self._successes, now, since=self._started):
            self._alive[job.name] = self._successes.get(job.name, self._started)
        try:
            produced = job.work(self.hub, lambda: self._should_stop(job.name))
            record(self.hub.sessions, JOB_PREFIX + job.name, self.hub.clock.now())
        finally:
            self._alive.pop(job.name, None)
            self._began.pop(job.name, None)
        self._successes[job.name] = datetime.now(UTC)
        return produced

    def _should_stop(self, name: str) -> bool:
        """What a job asks between messages: a sign of life for the watchdog."""
        self._alive[name] = datetime.now(UTC)
        return self.stopping.is_set()

    async def _watchdog(self, line: str) -> None:
        """WATCHDOG=1 at half systemd's period while no job is stale; silence (and a STATUS saying why) while one is."""
        assert self.notifier.watchdog is not None
        watchdog = Watchdog(self.notifier, line)
        while True:
            watchdog.tell("; ".join(problem for problem, _stuck in self.stale_jobs()))
            await asyncio.sleep(self.notifier.watchdog / 2)

    def stale_jobs(self) -> list[tuple[str, bool]]:
        """Each stale job's problem (hub.run.health.job_problems, judged from memory: the database may be what
        failed), and whether the job is stuck: running, and silent for RUNNING_GRACE since its run began or its
        last sign of life in it."""
        now, busy, began = datetime.now(UTC), dict(self._alive), dict(self._began)
        problems = job_problems(list(self.jobs.values()), self._successes, now, since=self._started, busy=busy)

        def stuck(name: str) -> bool:
            return name in began and now - max(began[name], busy.get(name, began[name])) > RUNNING_GRACE
        return [(problem.line(), stuck(problem.subject.removeprefix("job "))) for problem in problems]

    async def _failed(self, job: Job, error: Exception) -> None:
        assert self._loop is not None
        pause = self._backoffs[job.name].next_pause()
        line = redact.addresses(self.hub.refs.redact(one_line(error)))
        if self._told_failure.get(job.name) == line:  # one line when it starts failing, not one per retry
            log.debug("%s: still failing: %s; trying again in %.0f s", job.name, line, pause)
        elif is_temporary(error):
            log.warning("%s: %s; trying again in %.0f s, and quietly until it works", job.name, line, pause)
        else:
            log.error("%s failed: %s; trying again in %.0f s, and quietly until it works", job.name, line, pause)
        self._told_failure[job.name] = line
        await self._loop.run_in_executor(self._threads, record_failure_quietly, self.hub.sessions,
                                         JOB_PREFIX + job.name, self.hub.clock.now(), line)
        if not self.stopping.is_set():
            self._scheduler.modify_job(job.name, next_run_time=datetime.now(UTC) + timedelta(seconds=pause))

    def _fail_fatally(self, error: UserError) -> None:
        if self._fatal is None:
            self._fatal = error
        self.stopping.set()
        if self._stop is not None:
            self._stop.set()

    def _make_watcher(self) -> IdleWatcher | None:
        inbox, keeper = self.hub.config.inbox, self.inbox_keeper
        if inbox.url.startswith("maildir:"):
            return None
        return IdleWatcher(ImapAddress.parse(inbox.url), inbox.password,
                           wake=lambda: self._from_thread(self.wake, "inbox", True),
                           on_fatal=lambda error: self._from_thread(self._fail_fatally, error),
                           tokens=inbox_tokens(self.hub.config, self.tokens),
                           wanted=lambda: keeper is None or keeper.held)

    def _from_thread(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop has closed: the daemon is gone
            pass

    async def _shut_down(self) -> None:
        assert self._loop is not None
        if self._scheduler.running:
            self._scheduler.pause()
        deadline = self._loop.time() + STOP_GRACE_SECONDS
        while self._running and not self._hurry.is_set() and self._loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self._running:
            self.abandoned = True
            log.warning("stopped while %s still ran; what it left unfinished is done again at the next start",
                        ", ".join(sorted(self._running)))
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the scheduler shuts down in a callback on this loop
        if self._watcher is not None:
            await self._loop.run_in_executor(self._threads, self._watcher.stop)
        if self.inbox_keeper is not None and not self.abandoned:  # a job still reading keeps the lease till it expires
            await self._loop.run_in_executor(self._threads, self.inbox_keeper.close)


class _NoSkipNotices(logging.Filter):
    """APScheduler warns when a run is skipped because the job still runs; the daemon runs it again
    right after instead (a wake-up) or at its next time (a poll), so that is not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def quiet_scheduler() -> None:
    """No line per run from APScheduler, even with -v; none for a skipped run either (_NoSkipNotices)."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(_NoSkipNotices())


def run_daemon(hub: Hub, announce: Callable[[str], None]) -> bool:
    """Run until SIGTERM or SIGINT. Returns True when a job was left running (the caller then exits at once
    rather than wait for its thread); raises ConfigError when the configuration stopped the daemon, SchemaError when
    the database's schema changed under it."""
    quiet_scheduler()
    daemon = Daemon(hub, notifier=Notifier())
    asyncio.run(daemon.run(announce))
    return daemon.abandoned


def _schema_checked(work: Callable[[Hub, ShouldStop], bool]) -> Callable[[Hub, ShouldStop], bool]:
    """The job's work after a look at the schema's revision, through the hub the work is given: a deployment's
    office gives its pooled hub, in one of the process's turns (hub.run.offices), as it does for the work."""
    def checked(hub: Hub, should_stop: ShouldStop) -> bool:
        if (changed := schema_changed(hub.engine)) is not None:  # this code no longer fits the tables
            raise SchemaError(f"the database's schema changed while the hub ran: {changed}")
        return work(hub, should_stop)
    return checked

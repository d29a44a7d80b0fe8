"""Healthy or degraded, and why: the one judgement behind `hub status` (its exit code and --json), the
daemon's systemd watchdog, the metrics, and a web server's /readyz.

The hub is degraded when any of these holds, each a Problem:

  daemon  no daemon job has ever run on this database: `hub run` has not run here (a monitor should hear it)
  job     a job of this configuration with no success for twice its interval (stale), or none ever while
          other jobs have run (added since the daemon started); a daemon that is stopped or stuck shows so
  source  the inbox or the SMS line failed at its last read (its last error is set since its last success)
  outbox  a letter due for over OUTBOX_STALLED and not tried (delivery is not running), or one still retrying
          after temporary failures OUTBOX_RETRYING after it was queued (its server refuses or is unreachable)

A letter refused for good (`failed`) is not the hub's fault and its caseworker is told: counted, not judged.
Rows of sources and jobs the configuration no longer has are shown and not judged.

The daemon judges its own jobs from what it holds in memory (`job_problems`, without the database, which
may be what failed): there a running job counts from its last sign of life (a message filed, a letter sent)
and is stale only after RUNNING_GRACE at least, since a single network call may take minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.core.app import Hub
from hub.core.clock import as_utc, spoken_duration
from hub.core.models import Outbox, SourceCursor
from hub.run.cycle import inbox_name
from hub.run.heartbeat import JOB_PREFIX
from hub.run.jobs import Job

STALE_FACTOR = 2
RUNNING_GRACE = timedelta(minutes=5)
OUTBOX_STALLED = timedelta(minutes=10)
OUTBOX_RETRYING = timedelta(hours=1)
JOB_KINDS = ("not-run", "never-ran", "stale")  # the problems that say the daemon's work stopped


@dataclass(frozen=True)
class Problem:
    subject: str  # "daemon", "job inbox", "source imap:…", "outbox"
    kind: str     # not-run | never-ran | stale | failing | stalled | retrying
    text: str

    def line(self) -> str:
        return f"{self.subject}: {self.text}"


@dataclass(frozen=True)
class Record:
    """A source's or a job's row: its last success and its last error while it fails."""

    name: str
    last_success_at: datetime | None
    last_error: str
    judged: bool  # part of this configuration: an old row is shown, not judged
    interval: timedelta | None = None  # a job's: the longest wait between its runs


@dataclass(frozen=True)
class Health:
    checked_at: datetime
    sources: list[Record]
    jobs: list[Record]
    problems: list[Problem]

    @property
    def healthy(self) -> bool:
        return not self.problems


def assess(hub: Hub, session: Session, jobs: Sequence[Job]) -> Health:
    """The office's health from its database, as `hub status` and a monitor see it; `jobs` are this
    configuration's (hub.run.jobs.office_jobs)."""
    now = hub.clock.now()
    rows = {row.source: row for row in session.scalars(select(SourceCursor))}
    watched = _watched_sources(hub)
    sources = [Record(name, row.last_success_at and as_utc(row.last_success_at), row.last_error, name in watched)
               for name, row in sorted(rows.items()) if not name.startswith(JOB_PREFIX)]
    by_name = {job.name: job for job in jobs}
    job_rows = {name[len(JOB_PREFIX):]: row for name, row in rows.items() if name.startswith(JOB_PREFIX)}
    records = [Record(name, row.last_success_at and as_utc(row.last_success_at), row.last_error, name in by_name,
                      by_name[name].interval if name in by_name else None) for name, row in job_rows.items()]
    records += [Record(job.name, None, "", True, job.interval) for job in jobs if job.name not in job_rows]
    problems = [Problem(f"source {source.name}", "failing", f"failing: {source.last_error}")
                for source in sources if source.judged and source.last_error]
    if job_rows:
        successes = {record.name: record.last_success_at for record in records if record.last_success_at}
        problems += job_problems(jobs, successes, now)
    else:
        problems.append(Problem("daemon", "not-run", "the daemon has not run here: no job has run on this "
                                                     "database (start `hub run`, README \"Running as a service\")"))
    problems += _outbox_problems(session, now)
    return Health(now, sources, records, problems)


def job_problems(jobs: Sequence[Job], successes: Mapping[str, datetime], now: datetime,
                 since: datetime | None = None, busy: Mapping[str, datetime] | None = None) -> list[Problem]:
    """The jobs that are stale at `now`: no success (`successes`, by name) for twice their interval. The
    daemon gives `since`, when it started (a job is judged from then at the earliest), and `busy`: the
    last sign of life of each job running now."""
    problems = []
    busy = busy or {}
    for job in jobs:
        interval = job.interval
        moments = [moment for moment in (successes.get(job.name), since, busy.get(job.name)) if moment is not None]
        if not moments:
            problems.append(Problem(f"job {job.name}", "never-ran", "has never run to the end here (configured "
                                                                     "since the daemon started? restart it)"))
            continue
        if interval is None:
            continue
        limit = STALE_FACTOR * interval
        if job.name in busy:
            limit = max(limit, RUNNING_GRACE)
        quiet = now - max(moments)
        if quiet > limit:
            question = "; is the daemon running?" if since is None else ""  # asked of the database, not the daemon
            problems.append(Problem(f"job {job.name}", "stale", f"stale: no success for {spoken_duration(quiet)} "
                                                                f"(it runs {job.every}){question}"))
    return problems


def _watched_sources(hub: Hub) -> set[str]:
    """The sources this configuration reads, by the names their rows have."""
    names = {inbox_name(hub)}
    sms = hub.config.sms
    if sms is not None and sms.poll:
        names.add(f"sms:{sms.number}")
    return names


def _outbox_problems(session: Session, now: datetime) -> list[Problem]:
    """Both index ranges of the pending rows (ix_outbox_ready): the queue, not the years of sent mail."""
    problems = []
    pending = Outbox.state == "pending"
    stalled = session.scalar(select(Outbox.not_before).where(pending, Outbox.not_before <= now - OUTBOX_STALLED)
                             .order_by(Outbox.not_before).limit(1))
    if stalled is not None:
        problems.append(Problem("outbox", "stalled", f"mail due for {spoken_duration(now - as_utc(stalled))} is "
                                                     "not sent: is the daemon running?"))
    retrying = session.scalar(select(func.count()).select_from(Outbox).where(
        pending, Outbox.attempts > 0, Outbox.created_at <= now - OUTBOX_RETRYING)) or 0
    if retrying:
        problems.append(Problem("outbox", "retrying", f"{retrying} letter{'' if retrying == 1 else 's'} still "
                                                      f"retrying {spoken_duration(OUTBOX_RETRYING)} after being "
                                                      "queued: the server refuses them or cannot be reached "
                                                      "(hub case show REF has the error)"))
    return problems

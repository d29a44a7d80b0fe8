"""`hub status`: what an administrator, or a monitor, needs at a glance: healthy or degraded and why
(hub.run.health), when each source was last read and each daemon job last ran (and their last errors),
which hub process holds each lease (the inbox's: which one reads it), the outbox, due reminders,
quarantine and triage; as lines, or as JSON (`--json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.core.app import Hub
from hub.core.clock import as_utc
from hub.core.leases import Holding, leases
from hub.run.health import Health, Record, assess
from hub.run.jobs import office_jobs
from hub.run.queues import Queues, queues

JOB_ORDER = ("inbox", "sms", "outbox", "reminders", "report")


@dataclass(frozen=True)
class Status:
    health: Health
    queues: Queues
    leases: list[Holding] = field(default_factory=list)  # which process reads the inbox (hub.core.leases)


def office_status(hub: Hub) -> Status:
    with hub.sessions() as session:
        health = assess(hub, session, office_jobs(hub))
        return Status(health, queues(session, health.checked_at), leases(session))


def status_lines(hub: Hub) -> list[str]:
    return lines_of(office_status(hub))


def lines_of(status: Status) -> list[str]:
    health, now = status.health, status.health.checked_at
    count = len(health.problems)
    lines = ["healthy"] if health.healthy else [f"degraded ({count} problem{'' if count == 1 else 's'}):"]
    lines += [f"  {problem.line()}" for problem in health.problems]
    lines += [f"source {source.name}: {_record(source, now)}" for source in health.sources]
    if any(problem.kind == "not-run" for problem in health.problems):
        lines.append("jobs: none has run here yet (they run under `hub run`)")
    else:
        lines += [f"job {job.name}: {_record(job, now)}" for job in sorted(health.jobs, key=_job_rank)]
    lines += [f"lease {lease.name}: {lease.line()}" for lease in status.leases]
    return [*lines, _outbox(status.queues, now), *_counts(status.queues)]


def json_of(status: Status) -> dict[str, Any]:
    """Stable field names, ISO 8601 times in UTC."""
    health, counts = status.health, status.queues
    return {
        "healthy": health.healthy,
        "checked_at": _iso(health.checked_at),
        "problems": [{"subject": p.subject, "kind": p.kind, "text": p.text} for p in health.problems],
        "sources": [{"name": s.name, "last_success_at": _iso(s.last_success_at), "last_error": s.last_error,
                     "watched": s.judged} for s in health.sources],
        "jobs": [{"name": j.name, "last_success_at": _iso(j.last_success_at), "last_error": j.last_error,
                  "configured": j.judged, "interval_seconds": j.interval and int(j.interval.total_seconds())}
                 for j in sorted(health.jobs, key=_job_rank)],
        "leases": [{"name": lease.name, "host": lease.host, "pid": lease.pid, "live": lease.live,
                    "acquired_at": _iso(lease.acquired_at), "expires_at": _iso(lease.expires_at)}
                   for lease in status.leases],
        "outbox": {"waiting": counts.waiting, "due": counts.due, "oldest_due_at": _iso(counts.oldest_due_at),
                   "retrying": counts.retrying, "failed": counts.failed, "unrecorded": counts.unrecorded},
        "reminders": {"due": counts.reminders_due, "oldest_due_at": _iso(counts.oldest_reminder_due_at)},
        "quarantine": {"held": counts.quarantine},
        "triage": {"waiting": counts.triage},
    }


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def _job_rank(job: Record) -> tuple[int, str]:
    return (JOB_ORDER.index(job.name) if job.name in JOB_ORDER else len(JOB_ORDER), job.name)


def _record(record: Record, now: datetime) -> str:
    success = record.last_success_at
    line = f"last success {_when(success, now)}" if success else "last success never"
    return line + (f"; last error {record.last_error}" if record.last_error else "")


def _outbox(counts: Queues, now: datetime) -> str:
    line = f"outbox: {counts.waiting} waiting"
    if counts.waiting:
        oldest = counts.oldest_due_at
        line += f" ({counts.due} due now" + (f", the oldest due since {_when(oldest, now)}" if oldest else "")
        line += f"; {counts.retrying} retrying after a failure)" if counts.retrying else ")"
    line += f"; {counts.failed} failed"
    if counts.unrecorded:  # an interruption between the sent mark and the record (hub.delivery.sent_record)
        line += f"; {counts.unrecorded} sent, not yet recorded on their case (the next delivery does it)"
    return line


def _counts(counts: Queues) -> list[str]:
    return [f"reminders due: {counts.reminders_due}", f"quarantine: {counts.quarantine} held",
            f"triage: {counts.triage} waiting for a caseworker"]


def _when(moment: datetime, now: datetime) -> str:
    moment = as_utc(moment)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_ago(now - moment)})"


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    later = "from now" if seconds < 0 else "ago"  # recorded by `hub run --once --at` a later time
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} {later}"
    return f"{seconds} s {later}"

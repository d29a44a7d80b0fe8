"""The daemon's jobs: what each one does (a blocking call into the hub) and when it runs.

  inbox      drain the inbox every [inbox] poll_seconds (and whenever the IDLE watcher sees new mail, or this
             process takes over the inbox's lease from another one), while this process holds that lease
  sms        poll the SMS line every [sms] poll_seconds
  outbox     deliver what is due every 30 s (and after another job filed or queued something)
  reminders  sweep the reminders that are due, every minute
  report     the weekly report at [schedule] report_day and report_time (office time)
  triage     the list of what waits in triage, each business day at [schedule] workday_start (office time)
  digest     the caseworkers' digest on Mondays at [schedule] caseworker_digest_time (office time), unless
             caseworker_digest = false
  retention  `[retention]` applied (hub.cases.retention) each night at RETENTION_TIME (office time), when set
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from hub.cases.retention import purge
from hub.core.app import Hub
from hub.delivery.deliver import deliver_due
from hub.delivery.outage import Outage
from hub.oauth2.source import TokenSource
from hub.reports.triage_digest import send_triage_digest_if_due
from hub.reports.weekly import send_weekly_if_due
from hub.run.cycle import drain_held_inbox, drain_inbox, skipped_line
from hub.run.lease_keeper import LeaseKeeper
from hub.schedule.caseworker_digest import DAY, send_digests_if_due
from hub.schedule.sweep import sweep_due
from hub.sources.sent_folder import office_sent_folder
from hub.sources.sms_poll import poll_texts

log = logging.getLogger(__name__)
OUTBOX_SECONDS = 30
REMINDER_SECONDS = 60
RETENTION_TIME = time(2, 30)  # a quiet hour for the database
WEEK = timedelta(days=7)
WEEKEND = timedelta(days=3)  # a weekday job's longest wait: Friday to Monday
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class Job:
    name: str
    work: Callable[[Hub, ShouldStop], bool]  # blocking; True when it may have queued something to send
    trigger: BaseTrigger
    every: str  # for the start line
    gap: timedelta | None = None  # the longest wait between two runs of a timetable (cron) job

    @property
    def interval(self) -> timedelta | None:
        """The longest wait between two runs; a job with no success for twice as long is stale (hub.run.health)."""
        if self.gap is not None:
            return self.gap
        return self.trigger.interval if isinstance(self.trigger, IntervalTrigger) else None


class _Inbox:
    """The inbox, logged in to with the daemon's OAuth 2.0 tokens when it uses them; with a `keeper`, read only
    while this process holds the inbox's lease (hub.run.cycle.drain_held_inbox). That another process reads it
    is said once, when it starts to be so, not at every run."""

    def __init__(self, tokens: TokenSource | None, keeper: LeaseKeeper | None = None) -> None:
        self.tokens = tokens
        self.keeper = keeper
        self.told = False

    def __call__(self, hub: Hub, should_stop: ShouldStop) -> bool:
        if self.keeper is None:
            return drain_inbox(hub, should_stop, self.tokens).total > 0
        summary = drain_held_inbox(hub, self.keeper, should_stop, self.tokens)
        if summary is None:
            if not self.told:
                log.info("%s", skipped_line(self.keeper))
            self.told = True
            return False
        self.told = False
        return summary.total > 0


def _sms(hub: Hub, should_stop: ShouldStop) -> bool:
    return poll_texts(hub, should_stop).total > 0


class _Outbox:
    """Delivery. An outage of the mail server is remembered from one run to the next, so that it is logged
    when it begins and when it ends, not at every run."""

    def __init__(self, tokens: TokenSource | None) -> None:
        self.outage = Outage()
        self.tokens = tokens

    def __call__(self, hub: Hub, should_stop: ShouldStop) -> bool:
        deliver_due(hub, should_stop, self.outage, self.tokens, office_sent_folder(hub.config, self.tokens))
        return False


class _Reminders:
    """The reminder sweep. Its first successful run in the daemon's life also catches up: it sets the
    reminders of open cases that never had them (as `run --once` does each time)."""

    def __init__(self) -> None:
        self.caught_up = False

    def __call__(self, hub: Hub, should_stop: ShouldStop) -> bool:
        report = sweep_due(hub, should_stop, catch_up=not self.caught_up)
        self.caught_up = True
        return bool(report.counts)


def _report(hub: Hub, should_stop: ShouldStop) -> bool:
    return send_weekly_if_due(hub) is not None


def _triage(hub: Hub, should_stop: ShouldStop) -> bool:
    return send_triage_digest_if_due(hub) is not None


def _digest(hub: Hub, should_stop: ShouldStop) -> bool:
    return send_digests_if_due(hub) is not None


def _retention(hub: Hub, should_stop: ShouldStop) -> bool:
    purge(hub.sessions, hub.config.retention, hub.refs, hub.clock.now(), should_stop)
    return False


def office_jobs(hub: Hub, tokens: TokenSource | None = None, inbox_keeper: LeaseKeeper | None = None) -> list[Job]:
    """The jobs for this office's configuration, in the order they first run; the inbox and the outbox log
    in with `tokens` when they use OAuth 2.0; the inbox is read while `inbox_keeper` holds its lease."""
    config = hub.config
    found = []
    if config.sms is not None and config.sms.poll:
        seconds = config.sms.poll_seconds
        found.append(Job("sms", _sms, IntervalTrigger(seconds=seconds), f"every {seconds} s"))
    seconds = config.inbox.poll_seconds
    found.append(Job("inbox", _Inbox(tokens, inbox_keeper), IntervalTrigger(seconds=seconds), f"every {seconds} s"))
    found.append(Job("reminders", _Reminders(), IntervalTrigger(seconds=REMINDER_SECONDS),
                     f"every {REMINDER_SECONDS} s"))
    day, at, zone = config.schedule.report_day, config.schedule.report_time, config.office.timezone
    found.append(Job("report", _report, CronTrigger(day_of_week=day[:3], hour=at.hour, minute=at.minute,
                                                    timezone=ZoneInfo(zone)), f"{day} {at:%H:%M} {zone}", WEEK))
    start = config.schedule.workday_start
    weekdays = CronTrigger(day_of_week="mon-fri", hour=start.hour, minute=start.minute, timezone=ZoneInfo(zone))
    found.append(Job("triage", _triage, weekdays, f"weekdays {start:%H:%M} {zone}", WEEKEND))
    if config.schedule.caseworker_digest:
        at = config.schedule.caseworker_digest_time
        found.append(Job("digest", _digest, CronTrigger(day_of_week=DAY[:3], hour=at.hour, minute=at.minute,
                                                        timezone=ZoneInfo(zone)), f"{DAY} {at:%H:%M} {zone}", WEEK))
    if config.retention.enabled:
        at = RETENTION_TIME
        found.append(Job("retention", _retention, CronTrigger(hour=at.hour, minute=at.minute, timezone=ZoneInfo(zone)),
                         f"daily {at:%H:%M} {zone}", timedelta(days=1)))
    found.append(Job("outbox", _Outbox(tokens), IntervalTrigger(seconds=OUTBOX_SECONDS), f"every {OUTBOX_SECONDS} s"))
    return found

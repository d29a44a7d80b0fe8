"""The hub's metrics in Prometheus' text format, read at scrape time: `exposition(hub)` gives the bytes and
their content type, for a web server to serve at /metrics.

From the database, as `hub status` reads it (each an index range; hub.run.queues, hub.run.health):
  hub_healthy, hub_problems{kind}                        1 when healthy; the problems by kind
  hub_letters{state}                                     outbox rows by state (pending, sent, failed, …)
  hub_outbox_waiting, _due, _retrying                    the outbox queue
  hub_outbox_oldest_due_seconds                          how long the longest-waiting due letter has waited
  hub_reminders_due, hub_reminder_lag_seconds            reminders due and not yet swept, and how late the oldest is
  hub_quarantine_held, hub_triage_waiting                what waits for a person
  hub_job_last_success_timestamp_seconds{job}            each daemon job's last success (Unix time)
  hub_source_last_success_timestamp_seconds{source}      each source's last read; hub_source_failing{source}
  hub_database_up                                        0 when the database did not answer (the rest is left out)
  hub_inbox_lease_holder{lease,host,pid}                 1 for the process that holds the inbox's lease (reads it)
Of this process, when a daemon serves the metrics (several may share an office's database):
  hub_inbox_lease_held{lease}                            1 while this process holds the inbox's lease
  hub_inbox_lease_held_since_timestamp_seconds{lease}    since when it holds it (left out while it does not)
Counted by this process since it started (hub.core.tallies):
  hub_messages_total{fate}                               messages filed, by fate (new-case, case, triage, …)
  hub_oauth2_token_failures_total{kind}                  token requests that failed: unavailable, refused
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from hub.core import tallies
from hub.core.app import Hub
from hub.core.clock import as_utc
from hub.core.leases import Holding, holder_of
from hub.core.models import Outbox
from hub.run.cycle import inbox_lease_name
from hub.run.health import assess
from hub.run.jobs import office_jobs
from hub.run.lease_keeper import LeaseKeeper
from hub.run.queues import queues
from hub.sources.backoff import one_line

log = logging.getLogger(__name__)
LETTER_STATES = ("pending", "sending", "sent", "failed", "suppressed", "cancelled", "folded")


def exposition(hub: Hub, accept: str = "", inbox: LeaseKeeper | None = None) -> tuple[bytes, str]:
    """The metrics, in the format the scraper's Accept header asks for (Prometheus' text format by default);
    `inbox`: the daemon's keeper of the inbox's lease."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub, inbox))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class HubCollector(Collector):
    def __init__(self, hub: Hub, inbox: LeaseKeeper | None = None) -> None:
        self.hub = hub
        self.inbox = inbox

    def collect(self) -> Iterator[Metric]:
        try:
            found = list(self._from_database())
        except (SQLAlchemyError, OSError) as error:
            log.warning("metrics: the database did not answer: %s", one_line(error))
            found = []
        yield GaugeMetricFamily("hub_database_up", "1 when the database answered this scrape", value=1 if found else 0)
        yield from found
        yield _counter("hub_messages", "Messages filed by this process, by fate", "fate",
                       tallies.counts(tallies.MESSAGES))
        yield _counter("hub_oauth2_token_failures", "OAuth 2.0 token requests of this process that failed, by kind",
                       "kind", tallies.counts(tallies.TOKEN_FAILURES))

    def _from_database(self) -> Iterator[Metric]:
        hub = self.hub
        with hub.sessions() as session:
            health = assess(hub, session, office_jobs(hub))
            now = health.checked_at
            counts = queues(session, now)
            # The index ix_outbox_ready (state, not_before) holds every row: counted without reading the table.
            letters = {state: count for state, count in
                       session.execute(select(Outbox.state, func.count()).group_by(Outbox.state))}
            lease = inbox_lease_name(hub)
            holding = holder_of(session, lease)
        yield from self._lease(lease, holding)
        yield GaugeMetricFamily("hub_healthy", "1 when `hub status` says healthy, 0 when degraded",
                                value=int(health.healthy))
        problems = GaugeMetricFamily("hub_problems", "Problems `hub status` lists, by kind", labels=["kind"])
        for kind in ("not-run", "never-ran", "stale", "failing", "stalled", "retrying"):
            problems.add_metric([kind], sum(1 for problem in health.problems if problem.kind == kind))
        yield problems
        by_state = GaugeMetricFamily("hub_letters", "Outbox rows (letters, notices, texts) by state", labels=["state"])
        for state in sorted(set(LETTER_STATES) | set(letters)):
            by_state.add_metric([state], letters.get(state, 0))
        yield by_state
        for name, text, value in (
                ("hub_outbox_waiting", "Outbox rows pending or being sent", counts.waiting),
                ("hub_outbox_due", "Pending outbox rows whose time has come", counts.due),
                ("hub_outbox_retrying", "Waiting outbox rows tried before (a temporary failure)", counts.retrying),
                ("hub_outbox_oldest_due_seconds", "How long the longest-waiting due outbox row has waited",
                 _age(counts.oldest_due_at, now)),
                ("hub_reminders_due", "Pending reminders whose time has come", counts.reminders_due),
                ("hub_reminder_lag_seconds", "How late the oldest due reminder is (0: none waits)",
                 _age(counts.oldest_reminder_due_at, now)),
                ("hub_quarantine_held", "Messages held in quarantine", counts.quarantine),
                ("hub_triage_waiting", "Messages waiting in triage for a caseworker", counts.triage)):
            yield GaugeMetricFamily(name, text, value=value)
        jobs = GaugeMetricFamily("hub_job_last_success_timestamp_seconds", "Each daemon job's last success",
                                 labels=["job"])
        for job in health.jobs:
            if job.last_success_at is not None:
                jobs.add_metric([job.name], job.last_success_at.timestamp())
        yield jobs
        sources = GaugeMetricFamily("hub_source_last_success_timestamp_seconds", "Each source's last successful read",
                                    labels=["source"])
        failing = GaugeMetricFamily("hub_source_failing", "1 while a source's last read failed", labels=["source"])
        for source in health.sources:
            if source.last_success_at is not None:
                sources.add_metric([source.name], source.last_success_at.timestamp())
            failing.add_metric([source.name], int(bool(source.last_error)))
        yield sources
        yield failing


    def _lease(self, name: str, holding: Holding | None) -> Iterator[Metric]:
        """Which process reads the inbox, as the database says; and whether this one does, since when."""
        holder = GaugeMetricFamily("hub_inbox_lease_holder", "1 for the process that holds the inbox's lease",
                                   labels=["lease", "host", "pid"])
        if holding is not None and holding.live:
            holder.add_metric([name, holding.host, str(holding.pid)], 1)
        yield holder
        if self.inbox is None:
            return
        held = self.inbox.held
        this = GaugeMetricFamily("hub_inbox_lease_held", "1 while this process holds the inbox's lease (reads it)",
                                 labels=["lease"])
        this.add_metric([name], int(held))
        yield this
        since = GaugeMetricFamily("hub_inbox_lease_held_since_timestamp_seconds",
                                  "Since when this process holds the inbox's lease", labels=["lease"])
        if held and holding is not None and holding.holder == self.inbox.holder.id:
            since.add_metric([name], as_utc(holding.acquired_at).timestamp())
        yield since


def _counter(name: str, text: str, label: str, counts: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def _age(moment: datetime | None, now: datetime) -> float:
    return max((now - moment).total_seconds(), 0.0) if moment else 0.0

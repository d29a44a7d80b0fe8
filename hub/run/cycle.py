"""One full cycle of the hub's work: what `hub run --once` does and the daemon repeats.

Poll the SMS line (when there is one), drain the configured inbox through the intake path (when no other
hub process holds its lease, hub.core.leases: one process at a time reads a mailbox), queue the
caseworkers' Monday digest when it is due (before the sweep, so that it shows what was overdue before
this cycle's own chasing), turn the reminders that are due into letters and notices, queue the weekly
report and the weekday triage list when they are due, apply `[retention]` when it is set (the daemon does so
nightly), then deliver what is due in the outbox (the
acknowledgements, notifications and relays the new messages caused among it). Twilio being unreachable
holds up neither the mail nor the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub.cases.retention import Purged, purge
from hub.core.app import Hub
from hub.core.config import Config
from hub.core.errors import TemporaryError
from hub.delivery.deliver import DeliveryReport, deliver_due
from hub.intake.drain import Source, Summary, drain
from hub.intake.parse.email import parse_email
from hub.intake.parse.workers import parse_workers
from hub.intake.pipeline import Intake
from hub.oauth2.source import TokenSource, office_tokens
from hub.reports.triage_digest import send_triage_digest_if_due
from hub.reports.weekly import send_weekly_if_due
from hub.run.heartbeat import watched
from hub.run.lease_keeper import LeaseKeeper
from hub.schedule.caseworker_digest import send_digests_if_due
from hub.schedule.sweep import SweepReport, sweep_due
from hub.sources.imap import ImapAddress, ImapSource, connect
from hub.sources.maildir import MaildirSource, maildir_name
from hub.sources.sent_folder import office_sent_folder
from hub.sources.sms_poll import poll_texts


def drain_inbox(hub: Hub, should_stop: Callable[[], bool] = lambda: False,
                tokens: TokenSource | None = None) -> Summary:
    """Everything the inbox holds now, through the intake; its success or failure is kept for `hub status`.
    `tokens`: the OAuth 2.0 token source to log in with (the daemon keeps one; by default a new one)."""
    with watched(hub.sessions, inbox_name(hub), hub.clock), parse_workers() as workers, \
            inbox_source(hub, tokens) as source:
        return drain(Intake.of(hub), source, parse_email, should_stop, workers)


def drain_held_inbox(hub: Hub, keeper: LeaseKeeper, should_stop: Callable[[], bool] = lambda: False,
                     tokens: TokenSource | None = None) -> Summary | None:
    """The inbox drained when this process holds its lease (`keeper`: inbox_lease_name), stopping between
    messages if it loses it; None when another hub process holds it, which then reads the mailbox alone."""
    if not keeper.claim():
        return None
    return drain_inbox(hub, lambda: should_stop() or not keeper.held, tokens)


def inbox_lease_name(hub: Hub) -> str:
    """The lease one hub process at a time holds to read the inbox (hub.core.leases)."""
    return f"inbox:{inbox_name(hub)}"


def skipped_line(keeper: LeaseKeeper) -> str:
    """What a process says when it leaves the inbox to the process that holds its lease."""
    holding = keeper.holding()
    who = f" ({holding.host} pid {holding.pid})" if holding is not None else ""
    return f"{keeper.name.removeprefix('inbox:')}: another hub process reads it{who}; this one leaves it alone"


def inbox_name(hub: Hub) -> str:
    """The inbox's name in logs and `hub status` (the Source's `name`), known before connecting."""
    root = _maildir_root(hub)
    return maildir_name(root) if root else ImapAddress.parse(hub.config.inbox.url).name


def _maildir_root(hub: Hub) -> Path | None:
    """The inbox's folder when it is a Maildir (`maildir:PATH`), else None."""
    url = hub.config.inbox.url
    return hub.config.resolve(url[len("maildir:"):]) if url.startswith("maildir:") else None


@contextmanager
def inbox_source(hub: Hub, tokens: TokenSource | None = None) -> Iterator[Source]:
    """The configured inbox: a Maildir folder, or an IMAP mailbox logged out of on the way out."""
    inbox = hub.config.inbox
    limit = hub.config.limits.max_message_bytes
    root = _maildir_root(hub)
    if root is not None:
        yield MaildirSource(root, inbox.processed_folder, inbox.quarantine_folder, inbox.batch_size, limit)
        return
    address = ImapAddress.parse(inbox.url)
    # The connection logs out on the way out, after an error too.
    with connect(address, inbox.password, tokens=inbox_tokens(hub.config, tokens)) as client:
        source = ImapSource(client, address, hub.sessions, inbox.processed_folder, inbox.quarantine_folder,
                            inbox.batch_size, limit, hub.clock.now)
        try:
            yield source
        finally:
            source.close()


def inbox_tokens(config: Config, tokens: TokenSource | None) -> TokenSource | None:
    """The token source the inbox logs in with: None for a password."""
    if config.inbox.auth != "oauth2":
        return None
    return tokens or office_tokens(config)


@dataclass(frozen=True)
class Cycle:
    inbox: Summary
    outbox: DeliveryReport
    texts: Summary | None = None  # None: no SMS line, or Twilio could not be reached
    reminders: SweepReport | None = None


def run_once(hub: Hub, progress: Callable[[str], None] = lambda line: None) -> Cycle:
    """One cycle; `progress` hears each stage's summary line as soon as the stage ends."""
    texts = None
    tokens = office_tokens(hub.config)  # one OAuth 2.0 token for the inbox and the outbox
    if hub.config.sms is not None and hub.config.sms.poll:
        try:
            texts = poll_texts(hub)
            progress("sms: " + texts.line().replace("messages", "texts", 1))
        except TemporaryError as error:
            progress(f"sms: {error} (temporary; the next cycle tries again)")
    with LeaseKeeper(hub.sessions, inbox_lease_name(hub)) as keeper:
        held = drain_held_inbox(hub, keeper, tokens=tokens)
        progress(held.line() if held is not None else skipped_line(keeper))
    inbox = held or Summary()
    digest = send_digests_if_due(hub)
    if digest:
        progress(digest)
    reminders = sweep_due(hub, catch_up=True)
    if reminders.counts:
        progress(reminders.line())
    for line in (send_weekly_if_due(hub), send_triage_digest_if_due(hub)):
        if line:
            progress(line)
    if hub.config.retention.enabled and (purged := purge(hub.sessions, hub.config.retention, hub.refs,
                                                         hub.clock.now())) != Purged():
        progress(purged.line())
    outbox = deliver_due(hub, tokens=tokens, sent_folder=office_sent_folder(hub.config, tokens))
    progress(outbox.line())
    return Cycle(inbox, outbox, texts, reminders)

"""One full cycle of the hub's work: what `hub run --once` does and the daemon repeats.

For now: drain the configured inbox through the intake path.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.app import Hub
from hub.channels.email_parse import parse_email
from hub.channels.imap import ImapAddress, ImapSource, connect
from hub.channels.maildir import MaildirSource
from hub.inbox import Summary, drain, parse_workers


def drain_inbox(hub: Hub, should_stop: Callable[[], bool] = lambda: False) -> Summary:
    inbox = hub.config.inbox
    if inbox.url.startswith("maildir:"):
        source = MaildirSource(hub.config.resolve(inbox.url[len("maildir:"):]), inbox.processed_folder,
                               inbox.quarantine_folder, inbox.batch_size)
        with parse_workers() as workers:
            return drain(hub.intake, source, parse_email, should_stop, workers)
    address = ImapAddress.parse(inbox.url)
    with connect(address, inbox.password) as client:  # logs out on the way out, even after an error
        imap = ImapSource(client, address, hub.sessions, inbox.processed_folder, inbox.quarantine_folder,
                          inbox.batch_size, hub.clock.now)
        with parse_workers() as workers:
            return drain(hub.intake, imap, parse_email, should_stop, workers)


def run_once(hub: Hub) -> Summary:
    return drain_inbox(hub)

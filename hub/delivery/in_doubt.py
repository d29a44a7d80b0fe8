"""A letter in doubt: did the mail server take it before the crash? Its Sent folder says.

A crash after our last byte of DATA and before the server's 250 reached the sent journal leaves a letter
the server may have taken: sent again, it would arrive twice. Microsoft 365 and Google Workspace file
every message submitted with the account's login in its Sent folder (the one marked \\Sent, RFC 6154),
so before such a letter goes again it is looked for there by its Message-ID: found, it is marked sent
and recorded on its case like any sent message (hub.delivery.sent_record), never sent again; not found,
it goes again (nothing lost beats nothing twice). A folder that cannot be searched (the inbox is a
Maildir, the server is down, no folder is marked \\Sent) is decided by `[outbound] sent_folder_unreachable`:
"send" again (said at WARNING), or "wait" and look again at the next try, until `give_up_hours`.

A letter is in doubt when the claim that sent it ran out of its lease (the process died or hung with it; of
one pass's rows leased together only the first, as the pass sends them in order: hub.delivery.claims), when
the server's answer to its DATA never came without a crash (the connection broke, the wait timed out:
AnswerLost), or when it waited for its Sent folder before (`IN_DOUBT` in its provider id, as texts keep
"twilio:sending", written with the try's fate). For a crash the claim, committed before every send, is the
durable mark, so nothing is added to a send's own path.
A crash before the send costs one search too, and only a crash does. The search is the caller's
(`SentFolder`, an IMAP client in hub.sources.sent_folder): this layer does not talk IMAP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from hub.core import redact
from hub.core.app import Hub
from hub.core.config_values import SENT_FOLDER_NONE
from hub.core.errors import HubError

log = logging.getLogger(__name__)
IN_DOUBT = "smtp:in-doubt"  # provider_id of a letter that waits for its Sent folder to be searched
Verdict = Literal["sent", "send", "wait"]


class SentFolderUnreachable(HubError):
    """The Sent folder cannot be searched now (or at all, e.g. the inbox is a Maildir folder)."""


@dataclass(frozen=True)
class SentCopy:
    """The server's copy of a letter in the account's Sent folder."""

    folder: str
    uid: int
    at: datetime | None  # its Date header: when the letter was composed for the send that went

    @property
    def provider_id(self) -> str:
        return f"found in the Sent folder {self.folder} (UID {self.uid}) after an interrupted send"[:998]


class SentFolder(Protocol):
    def find(self, message_id: str) -> SentCopy | None:
        """The copy with this Message-ID, or None; raises SentFolderUnreachable when the folder cannot be searched."""
        ...

    def close(self) -> None:
        ...


class NoSentFolder:
    """A delivery pass given no Sent folder to search: each letter in doubt is decided as unreachable."""

    def __init__(self, reason: str = "no Sent folder was given to this delivery") -> None:
        self.reason = reason

    def find(self, message_id: str) -> SentCopy | None:
        raise SentFolderUnreachable(self.reason)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    copy: SentCopy | None = None  # for "sent"
    reason: str = ""              # for "wait": why the folder could not be searched


class InDoubt:
    """One delivery pass's answers for letters in doubt. A folder found unreachable is not tried again in
    the same pass."""

    def __init__(self, hub: Hub, folder: SentFolder) -> None:
        self._hub = hub
        self._folder = folder
        self._unreachable: str | None = None

    def outcome(self, row_id: int, message_id: str) -> Outcome:
        """What to do with outbox row `row_id`, in doubt, whose Message-ID is `message_id`."""
        outbound = self._hub.config.outbound
        if outbound.sent_folder == SENT_FOLDER_NONE:
            log.info("outbox %d: an earlier send may have reached the server; [outbound] sent_folder = \"none\": "
                     "it goes again", row_id)
            return Outcome("send")
        if self._unreachable is None:
            try:
                copy = self._folder.find(message_id)
            except SentFolderUnreachable as error:
                self._unreachable = redact.addresses(self._hub.refs.redact(str(error)))
            else:
                if copy is not None:
                    log.info("outbox %d: an interrupted send had reached the server (its copy is in the Sent "
                             "folder): marked sent, not sent again", row_id)
                    return Outcome("sent", copy)
                log.info("outbox %d: an interrupted send had not reached the server (no copy in the Sent "
                         "folder): it goes again", row_id)
                return Outcome("send")
        if outbound.sent_folder_unreachable == "wait":
            log.warning("outbox %d: an earlier send may have reached the server and the Sent folder cannot be "
                        "searched (%s): it waits", row_id, self._unreachable)
            return Outcome("wait", reason=f"in doubt, waiting for the Sent folder: {self._unreachable}")
        log.warning("outbox %d: an earlier send may have reached the server and the Sent folder cannot be "
                    "searched (%s): it goes again, and may arrive twice", row_id, self._unreachable)
        return Outcome("send")

    def close(self) -> None:
        self._folder.close()

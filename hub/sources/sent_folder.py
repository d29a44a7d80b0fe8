"""The office mailbox's Sent folder over IMAP, where a letter in doubt is looked for (hub.delivery.in_doubt).

Microsoft 365 ("Sent Items") and Google Workspace ("[Gmail]/Sent Mail") file a copy of every message
submitted over authenticated SMTP in the account's Sent folder. The [inbox] account is logged in to (its
password or OAuth 2.0 token, as the inbox) on the first letter in doubt of a delivery pass, the folder is
the one the server marks \\Sent (RFC 6154 SPECIAL-USE; `[outbound] sent_folder = "auto"`) or the one
named, opened read-only, and the letter is found by `SEARCH HEADER Message-ID`.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import SENT

from hub.core.clock import as_utc
from hub.core.config import Config
from hub.core.config_values import SENT_FOLDER_AUTO
from hub.core.errors import ConfigError, TemporaryError
from hub.delivery.in_doubt import NoSentFolder, SentCopy, SentFolder, SentFolderUnreachable
from hub.oauth2.source import TokenSource
from hub.sources.imap import ImapAddress, connect

_HEADERS = b"BODY[HEADER.FIELDS (MESSAGE-ID DATE)]"


def office_sent_folder(config: Config, tokens: TokenSource | None = None) -> SentFolder:
    """The Sent folder of the [inbox] account (none for a Maildir inbox); `tokens` as the inbox's."""
    if config.inbox.url.startswith("maildir:"):
        return NoSentFolder("the inbox is a Maildir folder, not an IMAP mailbox with a Sent folder")
    return ImapSentFolder(config, tokens if config.inbox.auth == "oauth2" else None)


class ImapSentFolder:
    """The account's Sent folder, logged in to on the first search and logged out of by `close`."""

    def __init__(self, config: Config, tokens: TokenSource | None) -> None:
        self._config = config
        self._tokens = tokens
        self._client: IMAPClient | None = None
        self._folder = ""

    def find(self, message_id: str) -> SentCopy | None:
        try:
            client = self._open()
            wanted = message_id.strip()
            uids = client.search(["HEADER", "Message-ID", wanted])  # a substring search: each found is checked
            if not uids:
                return None
            for uid, data in sorted(client.fetch(uids[:20], [_HEADERS.replace(b"BODY", b"BODY.PEEK")]).items()):
                found = _headers(data.get(_HEADERS, b""))
                if found.get("message-id") == wanted:
                    return SentCopy(self._folder, int(uid), _date(found.get("date", "")))
            return None
        except (OSError, IMAPClientError, ConfigError, TemporaryError) as error:
            self.close()
            raise SentFolderUnreachable(" ".join(str(error).split())[:300]) from None

    def _open(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        inbox = self._config.inbox
        client = connect(ImapAddress.parse(inbox.url), inbox.password, self._config.outbound.timeout_seconds,
                         self._tokens)
        self._client = client
        wanted = self._config.outbound.sent_folder
        folder = client.find_special_folder(SENT) if wanted == SENT_FOLDER_AUTO else wanted
        if not folder:
            raise ConfigError("the mailbox has no folder marked \\Sent; name it in [outbound] sent_folder")
        client.select_folder(folder, readonly=True)
        self._folder = folder
        return client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError, IMAPClientError):
                client.logout()


def _headers(block: bytes) -> dict[str, str]:
    """The Message-ID and Date of a header block, by lower-case name."""
    header = BytesHeaderParser().parsebytes(block)
    return {name: " ".join(str(header.get(name, "")).split()) for name in ("message-id", "date")}


def _date(value: str) -> datetime | None:
    try:
        return as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None

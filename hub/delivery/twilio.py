"""The office's Twilio number through the `twilio` client: send a text, find one already sent, list
the texts received since a moment, and fetch their media.

Every failure comes out as the hub's own error classes: TemporaryError for what may work later (HTTP
429 and 5xx, the network), RecipientOptedOut for Twilio error 21610, PermanentError for the rest, and
ConfigError for credentials Twilio refuses (nothing can be sent until they are fixed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from hub.core.config_values import Sms
from hub.core.errors import ConfigError, PermanentError, TemporaryError
from hub.delivery.twilio_http import fetch_media, http_status, is_temporary, twilio_client

READ_ATTEMPTS = 4
CLOCK_SKEW = timedelta(hours=6)
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient": the carrier holds a STOP for the number
REFUSED_CREDENTIALS = (20003, 20005)  # authentication failed; the account is suspended
T = TypeVar("T")


@dataclass(frozen=True)
class Media:
    sid: str
    content_type: str
    data: bytes | None
    problem: str = ""  # why `data` is missing (too large, could not be downloaded)


class RecipientOptedOut(PermanentError):
    """The carrier will not deliver to this number: it texted STOP (Twilio error 21610)."""


@dataclass(frozen=True)
class ReceivedText:
    sid: str
    sender: str
    to: str
    body: str
    sent: datetime
    status: str
    media_count: int

    @property
    def ready(self) -> bool:
        """Twilio has the whole message (an MMS is `receiving` while its media arrive)."""
        return self.status == "received"


class SmsLine:
    """One office number on one account; calls block (run them in a worker thread from async code)."""

    def __init__(self, sms: Sms, max_media_bytes: int) -> None:
        token = sms.auth_token
        if not token:
            raise ConfigError(f"[sms] the Twilio auth token is read from ${sms.auth_token_env}, which is not set")
        self.sms, self._token, self._max_media_bytes = sms, token, max_media_bytes
        self.client = twilio_client(sms.account_sid, token, sms.api_base, sms.timeout_seconds)

    def send(self, to: str, body: str) -> str:
        """Send one text; returns its Message SID."""
        message = _call(lambda: self.client.messages.create(to=to, from_=self.sms.number, body=body))
        return str(message.sid)

    def find_sent(self, to: str, body: str, since: datetime, known: set[str]) -> str | None:
        """The SID of a text with exactly this body sent to `to` since `since` and not among `known` (the
        SIDs other outbox rows already hold), if Twilio has one: after a crash between sending and
        recording, this tells whether the send went through."""
        # Twilio's clock and ours may differ: look a while further back than the row's own age.
        horizon = since - CLOCK_SKEW

        def search() -> str | None:
            for message in self.client.messages.stream(to=to, from_=self.sms.number, page_size=50, limit=200):
                created = message.date_created
                if created is not None and created < horizon:
                    return None  # newest first: everything further is older
                if message.body == body and str(message.sid) not in known:
                    return str(message.sid)
            return None
        return with_backoff(lambda: _call(search))

    def received_since(self, since: datetime) -> list[ReceivedText]:
        """Texts to the office number sent at or after `since` (Twilio filters by day, so earlier ones of
        that day come too), oldest first."""
        def listing() -> list[ReceivedText]:
            found = []
            # The client formats a datetime as UTC without converting it: hand it UTC.
            for message in self.client.messages.stream(to=self.sms.number, date_sent_after=since.astimezone(UTC),
                                                       page_size=1000):
                if message.direction != "inbound":
                    continue
                sent = message.date_sent or message.date_created or datetime.now(UTC)
                found.append(ReceivedText(str(message.sid), str(message.from_ or ""), str(message.to or ""),
                                          str(message.body or ""), sent, str(message.status or ""),
                                          int(message.num_media or 0)))
            return sorted(found, key=lambda text: (text.sent, text.sid))
        return with_backoff(lambda: _call(listing))

    def media(self, text: ReceivedText) -> list[Media]:
        """The text's media items, downloaded; an item that cannot be had is kept as a named gap."""
        if not text.media_count:
            return []
        items = with_backoff(lambda: _call(lambda: list(self.client.messages(text.sid).media.list(limit=50))))
        return [self.download(str(item.uri), str(item.sid), str(item.content_type or "")) for item in items]

    def download(self, url: str, sid: str, content_type: str) -> Media:
        """One media item by its URL (as the API or the webhook gives it)."""
        fetch = partial(fetch_media, url, self.sms.account_sid, self._token, self.sms.api_base,
                        self.sms.timeout_seconds, self._max_media_bytes)
        try:
            fetched_type, data = with_backoff(fetch)
        except PermanentError as error:
            return Media(sid, content_type, None, f"not downloaded: {error}")
        return Media(sid, fetched_type or content_type, data)


def with_backoff(action: Callable[[], T], attempts: int = READ_ATTEMPTS,
                 sleep: Callable[[float], None] | None = None) -> T:
    """A read that may be retried: a temporary failure (429, 5xx, the network) waits 1, 2, 4 … seconds
    and tries again; the last failure is raised."""
    for attempt in range(attempts):
        try:
            return action()
        except TemporaryError:
            if attempt == attempts - 1:
                raise
            (sleep or time.sleep)(min(2 ** attempt, 30) * random.uniform(0.8, 1.2))
    raise AssertionError("unreachable")


def _call(action: Callable[[], T]) -> T:
    try:
        return action()
    except (TwilioException, requests.RequestException) as error:
        raise _translated(error) from None


def _translated(error: Exception) -> Exception:
    """The hub's error for what the client raised: a refused call, a refused page of a list (a bare
    TwilioException), or requests' own network errors."""
    status = http_status(error)
    code = error.code if isinstance(error, TwilioRestException) else None
    summary = (f"Twilio error {code} (HTTP {status}): {error.msg}" if isinstance(error, TwilioRestException)
               else f"Twilio: {type(error).__name__}: {error}" + (f" (HTTP {status})" if status else ""))
    if code == OPTED_OUT:
        return RecipientOptedOut(summary)
    if status == 401 or code in REFUSED_CREDENTIALS:
        return ConfigError(f"{summary}: check [sms] account_sid and the auth token")
    if is_temporary(error):
        return TemporaryError(summary)
    return PermanentError(summary)


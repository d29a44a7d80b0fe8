"""The office's access tokens: fetched from the [oauth2] provider, kept in memory, and fetched again
before they expire, for every connection the process makes (the IDLE watcher, each drain, each
delivery pass, `hub check`).

A provider that is unreachable or busy is asked again after growing pauses (1 s, 2 s, 4 s) before the
failure goes to the caller as a TemporaryError, whose own retries take over; a refusal is a ConfigError
at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from hub.core import tallies
from hub.core.config import Config
from hub.core.config_oauth2 import OAuth2
from hub.oauth2.token import AccessToken, TokenRefused, TokenUnavailable

log = logging.getLogger(__name__)
ATTEMPTS = 4
FIRST_PAUSE = 1.0


class Provider(Protocol):
    name: str

    def fetch(self) -> AccessToken:
        """A new token from the provider; raises TokenRefused or TokenUnavailable."""
        ...


class TokenSource:
    """One provider's current token, shared by the threads of the process."""

    def __init__(self, provider: Provider, attempts: int = ATTEMPTS, first_pause: float = FIRST_PAUSE,
                 now: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.provider = provider
        self.attempts = attempts
        self.first_pause = first_pause
        self.fetched = 0  # how many tokens were fetched, for logs and tests
        self._now = now
        self._sleep = sleep
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.provider.name

    def token(self) -> AccessToken:
        """A token that is not about to expire: the cached one, or a new one."""
        with self._lock:
            if self._token is None or self._now() >= self._token.refresh_at:
                self._token = self._fetch()
            return self._token

    def forget(self, token: AccessToken) -> None:
        """A server refused `token`: the next `token()` fetches a new one."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> AccessToken:
        pause = self.first_pause
        for attempt in range(1, self.attempts + 1):
            try:
                token = self.provider.fetch()
            except TokenRefused:
                tallies.add(tallies.TOKEN_FAILURES, "refused")
                raise
            except TokenUnavailable as error:
                tallies.add(tallies.TOKEN_FAILURES, "unavailable")
                if attempt == self.attempts:
                    raise
                log.warning("%s; asking again in %.0f s", error, pause)
                self._sleep(pause)
                pause *= 2
                continue
            self.fetched += 1
            log.info("[oauth2] %s: new access token, valid for %.0f s", self.name, token.expires_at - token.issued_at)
            return token
        raise AssertionError("unreachable")


def provider_for(settings: OAuth2) -> Provider:
    # Imported here: a process that logs in with a password never loads msal or google-auth.
    if settings.provider == "microsoft":
        from hub.oauth2.microsoft import MicrosoftProvider
        return MicrosoftProvider(settings)
    if settings.provider == "google":
        from hub.oauth2.google_workspace import GoogleProvider
        return GoogleProvider(settings)
    from hub.oauth2.generic import GenericProvider
    return GenericProvider(settings)


def office_tokens(config: Config) -> TokenSource | None:
    """The office's token source when its inbox or its outbound server logs in with OAuth 2.0 (one for
    both: the same token serves IMAP and SMTP); None when both log in with a password."""
    if config.oauth2 is None or "oauth2" not in (config.inbox.auth, config.outbound.auth):
        return None
    return TokenSource(provider_for(config.oauth2))

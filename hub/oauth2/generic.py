"""Tokens from any RFC 6749 token endpoint ([oauth2] provider = "generic"): the client-credentials grant,
or the refresh-token grant when [oauth2] refresh_token_env names a refresh token (for a mail provider
whose mailbox tokens come from a user's consent, or a test's own server).

oauthlib writes the request and reads the answer, with the endpoint's own error; requests posts it (its
trust store, REQUESTS_CA_BUNDLE where needed). A new refresh token in an answer replaces the old one for
the rest of the process.
"""

from __future__ import annotations

import time

import requests
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error, WebApplicationClient

from hub.core.config_oauth2 import OAuth2
from hub.core.errors import ConfigError
from hub.oauth2.token import AccessToken, refused, unavailable

TIMEOUT = 30
HEADERS = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
TEMPORARY_ERRORS = ("temporarily_unavailable", "server_error")


class GenericProvider:
    name = "generic"

    def __init__(self, settings: OAuth2) -> None:
        self.settings = settings
        self._session = requests.Session()
        self._refresh_token: str | None = None  # a newer one than the environment's, when the endpoint rotated it

    def fetch(self) -> AccessToken:
        settings = self.settings
        secret = self._secret()
        if settings.refresh_token_env:
            client: WebApplicationClient | BackendApplicationClient = WebApplicationClient(settings.client_id)
            body = client.prepare_refresh_body(refresh_token=self._current_refresh_token(), scope=settings.scope,
                                               client_id=settings.client_id, client_secret=secret)
        else:
            client = BackendApplicationClient(settings.client_id)
            body = client.prepare_request_body(scope=settings.scope, include_client_id=True, client_secret=secret)
        issued = time.time()
        try:
            response = self._session.post(settings.token_url, data=body, headers=HEADERS, timeout=TIMEOUT)
        except requests.RequestException as error:
            raise unavailable(self.name, f"{settings.token_url}: {type(error).__name__}: {error}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise unavailable(self.name, f"{settings.token_url}: HTTP {response.status_code}")
        try:
            answer = client.parse_request_body_response(response.text, scope=settings.scope)
        except OAuth2Error as error:
            if error.error in TEMPORARY_ERRORS:
                raise unavailable(self.name, f"{error.error}: {error.description or ''}") from None
            raise refused(self.name, error.error, error.description or "") from None
        except Warning as changed:  # RFC 6749 §3.3: the endpoint granted another scope than the one asked for
            answer = changed.token  # type: ignore[attr-defined]
        except ValueError as error:
            raise unavailable(self.name, f"{settings.token_url}: HTTP {response.status_code}, not a token "
                              f"answer: {error}") from None
        if answer.get("refresh_token"):
            self._refresh_token = str(answer["refresh_token"])
        return AccessToken(str(answer["access_token"]), issued, issued + float(answer.get("expires_in") or 3600))

    def _secret(self) -> str | None:
        env = self.settings.client_secret_env
        if env and not self.settings.client_secret:
            raise ConfigError(f"[oauth2] client_secret_env: the environment variable {env} holding the client "
                              f"secret is not set")
        return self.settings.client_secret

    def _current_refresh_token(self) -> str:
        token = self._refresh_token or self.settings.refresh_token
        if not token:
            raise ConfigError(f"[oauth2] refresh_token_env: the environment variable "
                              f"{self.settings.refresh_token_env} holding the refresh token is not set")
        return token

"""Google Workspace tokens with google-auth: a service account with domain-wide delegation acting as the
office's mailbox ([oauth2] subject), for the scope https://mail.google.com/ (IMAP and SMTP).

The key file is the service account's JSON key; [oauth2] token_url, when set, replaces the key's
token_uri. google-auth signs the JWT grant with the key and posts it over requests (REQUESTS_CA_BUNDLE
where an office's proxy needs its own authority); it retries the endpoint's 5xx answers itself.
"""

from __future__ import annotations

import json
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import requests
from google.auth import exceptions
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from hub.core.config_oauth2 import OAuth2
from hub.core.errors import ConfigError
from hub.oauth2.token import AccessToken, refused, unavailable

TIMEOUT = 30


class GoogleProvider:
    name = "google"

    def __init__(self, settings: OAuth2) -> None:
        self.settings = settings
        self._session = requests.Session()

    def fetch(self) -> AccessToken:
        credentials = self._credentials()
        issued = time.time()
        try:
            credentials.refresh(Request(self._session))
        except exceptions.RefreshError as error:
            answer = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
            if error.retryable:
                raise unavailable(self.name, str(error.args[0])) from None
            raise refused(self.name, str(answer.get("error") or error.args[0]),
                          str(answer.get("error_description") or "")) from None
        except exceptions.TransportError as error:
            raise unavailable(self.name, f"{type(error).__name__}: {error}") from None
        expiry = credentials.expiry.replace(tzinfo=UTC).timestamp() if credentials.expiry else issued + 3600
        return AccessToken(str(credentials.token), issued, expiry)

    def _credentials(self) -> service_account.Credentials:
        path = self.settings.service_account_file
        try:
            info: dict[str, Any] = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(f"[oauth2] service_account_file: cannot read {path}: {error}") from None
        if self.settings.token_url:
            info["token_uri"] = self.settings.token_url
        try:
            return service_account.Credentials.from_service_account_info(
                info, scopes=[self.settings.scope], subject=self.settings.subject)
        except (ValueError, exceptions.GoogleAuthError) as error:
            raise ConfigError(f"[oauth2] service_account_file: {path} is not a service account key: "
                              f"{error}") from None

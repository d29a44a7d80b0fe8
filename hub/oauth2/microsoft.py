"""Microsoft 365 tokens with msal: the app-only client-credentials flow of an app registration, with a
client secret or a certificate, for the scope https://outlook.office365.com/.default (IMAP.AccessAsApp,
SMTP.SendAsApp).

The authority is [oauth2] authority + tenant (https://login.microsoftonline.com/TENANT; GCC High:
https://login.microsoftonline.us). msal reads the tenant's OpenID configuration from it; instance
discovery, which asks login.microsoftonline.com about other hosts, is off, so a sovereign cloud's
authority is used as written. TLS certificates are checked by requests against its trust store
(REQUESTS_CA_BUNDLE where an office's proxy needs its own).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import jwt
import msal
import requests

from hub.core.config_oauth2 import OAuth2
from hub.core.errors import ConfigError
from hub.oauth2.token import AccessToken, refused, unavailable

TIMEOUT = 30
CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
# Entra's answers that mean "not now" rather than "no".
TEMPORARY_ERRORS = ("temporarily_unavailable", "server_error", "service_unavailable")


class MicrosoftProvider:
    name = "microsoft"

    def __init__(self, settings: OAuth2) -> None:
        self.settings = settings
        self.authority = f"{settings.authority.rstrip('/')}/{settings.tenant}"
        self._app: msal.ConfidentialClientApplication | None = None

    def fetch(self) -> AccessToken:
        app = self._application()
        for cached in list(app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            app.token_cache.remove_at(cached)  # the cache in hub.oauth2.source decides when a new one is due
        issued = time.time()
        try:
            answer: dict[str, Any] = app.acquire_token_for_client(scopes=[self.settings.scope])
        except (requests.RequestException, json.JSONDecodeError, msal.exceptions.MsalServiceError) as error:
            # MsalServiceError: an HTTP 5xx answer (msal keeps it for its Retry-After, 5 s by default)
            raise unavailable(self.name, f"{self.authority}: {type(error).__name__}: {error}") from None
        except jwt.PyJWTError as error:  # the certificate's key cannot sign the client assertion
            raise ConfigError(f"[oauth2] certificate_file: cannot sign with the key in "
                              f"{self.settings.certificate_file}: {error}") from None
        if "access_token" in answer:
            return AccessToken(answer["access_token"], issued, issued + float(answer.get("expires_in", 3600)))
        code, description = str(answer.get("error", "")), str(answer.get("error_description", ""))
        if code in TEMPORARY_ERRORS:
            raise unavailable(self.name, f"{code}: {description}")
        raise refused(self.name, code or "no token in the answer", description)

    def _application(self) -> msal.ConfidentialClientApplication:
        """msal's application, made once it could read the tenant's configuration."""
        if self._app is not None:
            return self._app
        try:
            self._app = msal.ConfidentialClientApplication(
                self.settings.client_id, client_credential=self._credential(), authority=self.authority,
                http_client=requests.Session(), instance_discovery=False, timeout=TIMEOUT)
        except requests.RequestException as error:
            raise unavailable(self.name, f"{self.authority}: {type(error).__name__}: {error}") from None
        except ValueError as error:  # the tenant's configuration refused (AADSTS90002: no such tenant), a bad key
            detail = f"{error} {error.__context__ or ''}"  # msal's own words, then the endpoint's answer
            found = re.search(r'"error"\s*:\s*"([^"]+)".*?"error_description"\s*:\s*"([^"]+)"', detail)
            if found:
                raise refused(self.name, found[1], found[2]) from None
            raise refused(self.name, "msal refused the settings", str(error)) from None
        return self._app

    def _credential(self) -> str | dict[str, str]:
        settings = self.settings
        if settings.client_secret_env:
            secret = settings.client_secret
            if not secret:
                raise ConfigError(f"[oauth2] client_secret_env: the environment variable "
                                  f"{settings.client_secret_env} holding the client secret is not set")
            return secret
        try:
            pem = Path(settings.certificate_file).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"[oauth2] certificate_file: cannot read {settings.certificate_file}: "
                              f"{error}") from None
        if "PRIVATE KEY-----" not in pem:
            raise ConfigError(f"[oauth2] certificate_file: {settings.certificate_file} holds no private key "
                              f"(PEM, with the certificate)")
        if settings.certificate_thumbprint:
            return {"private_key": pem, "thumbprint": settings.certificate_thumbprint}
        certificate = CERTIFICATE.search(pem)
        if certificate is None:
            raise ConfigError(f"[oauth2] certificate_file: {settings.certificate_file} holds no certificate; "
                              f"add it to the file or set certificate_thumbprint")
        return {"private_key": pem, "public_certificate": certificate[0]}

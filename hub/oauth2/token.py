"""An access token, and the two ways getting one fails: refused (the office must fix its settings) or
unavailable for now (retried with growing pauses).

A refusal is one line: the provider, its own error (an AADSTS… code, invalid_grant, unauthorized_client)
and what to check; the trace and correlation ids and the timestamp Entra adds are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.core.errors import ConfigError, TemporaryError

MAX_ERROR_TEXT = 300
# What to look at when a provider refuses the hub's request for a token.
HINTS = {
    "microsoft": "check [oauth2] tenant, client_id and the client secret or certificate of the app "
                 "registration (Entra admin center: App registrations), and that admin consent was granted",
    "google": "check the service account's key file, [oauth2] subject (a mailbox of the domain) and the "
              "domain-wide delegation of the service account's client ID with the scope "
              "https://mail.google.com/ (Admin console: Security, API controls)",
    "generic": "check [oauth2] token_url, client_id, scope and the client secret or refresh token",
}
# Provider errors whose own hint is more precise than the provider's.
ERROR_HINTS = {
    "invalid_scope": "check [oauth2] scope",
    "AADSTS90002": "check [oauth2] tenant (the directory's ID or primary domain) and authority",
    "AADSTS700016": "check [oauth2] client_id and tenant: the application is not in that directory",
    "AADSTS7000215": "check the client secret: its value, not its ID, in the variable [oauth2] client_secret_env names",
    "AADSTS7000222": "the client secret has expired: add a new one to the app registration",
    "AADSTS65001": "grant admin consent for the application's permissions (API permissions: Grant admin consent)",
    "AADSTS700027": "check [oauth2] certificate_file and certificate_thumbprint against the certificate "
                    "uploaded to the app registration",
    "unauthorized_client": "check the domain-wide delegation of the service account's client ID with the "
                           "scope https://mail.google.com/ (Admin console: Security, API controls)",
}


@dataclass(frozen=True)
class AccessToken:
    value: str = ""
    issued_at: float = 0.0   # time.time() when it was fetched
    expires_at: float = 0.0  # time.time() when the provider says it expires

    @property
    def refresh_at(self) -> float:
        """When to fetch the next one: five minutes before it expires, or sooner for a short-lived token
        (a quarter of its life before), so that no login ever uses one about to expire."""
        margin = min(300.0, (self.expires_at - self.issued_at) / 4)
        return self.expires_at - margin

    def __repr__(self) -> str:  # never the token itself in a log or a traceback
        return f"AccessToken(expires_at={self.expires_at:.0f})"


class TokenRefused(ConfigError):
    """The provider refused to issue a token: the office's settings or its grants are wrong."""


class TokenUnavailable(TemporaryError):
    """The provider could not be reached, or said to try again later."""


def refused(provider: str, error: str, description: str = "") -> TokenRefused:
    """The one line for a refusal: `[oauth2] microsoft: token refused: AADSTS7000215: …; check …`."""
    text = _clean(f"{error}: {description}" if description and not description.startswith(error)
                  else description or error)
    hint = next((hint for code, hint in ERROR_HINTS.items() if code in text or code == error), HINTS[provider])
    return TokenRefused(f"[oauth2] {provider}: token refused: {text}; {hint}")


def unavailable(provider: str, reason: str) -> TokenUnavailable:
    return TokenUnavailable(f"[oauth2] {provider}: no token for now: {_clean(reason)}")


def _clean(text: str) -> str:
    """The provider's words on one line, without the trace and correlation ids Entra adds."""
    text = re.split(r"\s*(?:Trace ID|Correlation ID|Timestamp):", text, maxsplit=1)[0]
    text = " ".join(text.split()).rstrip(" .")
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"

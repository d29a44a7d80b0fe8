"""The [oauth2] table and the `auth` key of [inbox] and [outbound]: how the hub logs in to a mail server
with OAuth 2.0 tokens instead of a password.

`read_auth` reads `auth` ("password", the default, or "oauth2"); `read_oauth2` reads [oauth2] into a
frozen `OAuth2` for its provider: "microsoft" (Microsoft 365, app-only, msal), "google" (Google
Workspace, a service account with domain-wide delegation, google-auth) or "generic" (any RFC 6749 token
endpoint: client credentials, or a refresh token). A key that belongs to another provider is an error
that says which provider it belongs to; secrets come from the environment or
systemd's credentials, named by `*_env` keys (hub.core.secrets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hub.core.config_table import Table
from hub.core.secrets import secret

AUTH_KINDS = ("password", "oauth2")
PROVIDERS = ("microsoft", "google", "generic")
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_SCOPES = {"microsoft": "https://outlook.office365.com/.default", "google": "https://mail.google.com/",
                  "generic": ""}
# The keys each provider reads; `scope` is every provider's.
PROVIDER_KEYS = {
    "microsoft": ("tenant", "client_id", "client_secret_env", "certificate_file", "certificate_thumbprint",
                  "authority"),
    "google": ("service_account_file", "subject", "token_url"),
    "generic": ("token_url", "client_id", "client_secret_env", "refresh_token_env"),
}
HTTPS_URL = re.compile(r"^https://[^/\s]+")


@dataclass(frozen=True)
class OAuth2:
    """The [oauth2] table. Paths are absolute; secrets are read from the environment when needed."""

    provider: str
    scope: str
    tenant: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    certificate_file: str = ""
    certificate_thumbprint: str = ""
    authority: str = ""             # microsoft: https://login.microsoftonline.com, or .us for GCC High
    service_account_file: str = ""
    subject: str = ""               # google: the mailbox the service account acts as
    token_url: str = ""             # generic: the token endpoint; google: instead of the key file's token_uri
    refresh_token_env: str = ""     # generic: a refresh-token grant instead of client credentials

    @property
    def client_secret(self) -> str | None:
        return secret(self.client_secret_env)

    @property
    def refresh_token(self) -> str | None:
        return secret(self.refresh_token_env)


def read_auth(table: Table) -> str:
    """`auth` of [inbox] or [outbound]: "password" or "oauth2"."""
    kind = table.text("auth", "password")
    if kind not in AUTH_KINDS:
        raise table.fail("auth", f"expected one of {', '.join(AUTH_KINDS)}, got {kind!r}")
    return kind


def read_oauth2(table: Table, home: Path) -> OAuth2:
    provider = table.text("provider")
    if provider not in PROVIDERS:
        raise table.fail("provider", f"expected one of {', '.join(PROVIDERS)}, got {provider!r}")
    own = PROVIDER_KEYS[provider]
    for keys in PROVIDER_KEYS.values():
        for key in keys:
            if key not in own and table.has(key):
                owners = " or ".join(name for name, names in PROVIDER_KEYS.items() if key in names)
                raise table.fail(key, f"not a setting of provider {provider!r} (it belongs to {owners})")
    values = {key: table.text(key, MICROSOFT_AUTHORITY if key == "authority" else "") for key in own}
    scope = table.text("scope", DEFAULT_SCOPES[provider])
    for key in ("certificate_file", "service_account_file"):
        if values.get(key):
            path = Path(values[key]).expanduser()
            values[key] = str(path if path.is_absolute() else home / path)
    settings = OAuth2(provider=provider, scope=scope, **values)
    _check(table, settings)
    return settings


def _check(table: Table, settings: OAuth2) -> None:
    """What each provider cannot do without."""
    needed = {"microsoft": ("tenant", "client_id"), "google": ("service_account_file", "subject"),
              "generic": ("token_url", "client_id", "scope")}[settings.provider]
    for key in needed:
        if not getattr(settings, key):
            raise table.fail(key, f"needed for provider {settings.provider!r}")
    if settings.provider == "microsoft":
        secret, certificate = settings.client_secret_env, settings.certificate_file
        if bool(secret) == bool(certificate):
            raise table.fail("client_secret_env", "provider 'microsoft' needs either client_secret_env or "
                             "certificate_file, not both")
        thumbprint = settings.certificate_thumbprint
        if thumbprint and not re.fullmatch(r"[0-9A-Fa-f]{40}", thumbprint):
            raise table.fail("certificate_thumbprint", "expected the certificate's SHA-1 thumbprint, 40 hex "
                             "digits, as the app registration shows it (or leave it out)")
        if not HTTPS_URL.match(settings.authority):
            raise table.fail("authority", f"expected https://HOST, got {settings.authority!r}")
    if settings.provider == "generic" and not settings.client_secret_env and not settings.refresh_token_env:
        raise table.fail("client_secret_env", "provider 'generic' needs client_secret_env, refresh_token_env "
                         "or both")
    if settings.token_url and not HTTPS_URL.match(settings.token_url):
        raise table.fail("token_url", f"expected an https:// URL, got {settings.token_url!r}")

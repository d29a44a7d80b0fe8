"""Logging in to the office's IMAP server: with the password, or with an OAuth 2.0 access token over SASL
OAUTHBEARER (RFC 7628) where the server offers it, else XOAUTH2 (what Microsoft 365 offers).

A token the server refuses is forgotten and a new one tried once: a server may have revoked it early. A
second refusal is the office's to fix (the application may not open this mailbox), so it is a
ConfigError with what to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from hub.core.errors import ConfigError
from hub.oauth2.source import TokenSource
from hub.oauth2.token import AccessToken

if TYPE_CHECKING:
    from hub.sources.imap import ImapAddress

MAILBOX_HINT = ("check that the application may open this mailbox (Microsoft 365: the Exchange service principal "
                "and Add-MailboxPermission; Google: [oauth2] subject is this mailbox and delegation is granted)")


@dataclass(frozen=True)
class Login:
    """How a connection logged in: "password", "OAUTHBEARER" or "XOAUTH2", and the token it used."""

    mechanism: str
    token: AccessToken | None = None

    @property
    def description(self) -> str:
        return "password" if self.token is None else f"OAuth 2.0 token, {self.mechanism}"


def log_in(client: IMAPClient, address: ImapAddress, password: str | None, tokens: TokenSource | None) -> Login:
    """Log `client` in as the address's user; raises LoginError for a refused password (the caller's
    message names it) and ConfigError for a refused token."""
    if tokens is None:
        assert password is not None, "connect() asks for the password first"
        client.login(address.user, password)
        return Login("password")
    bearer = b"AUTH=OAUTHBEARER" in client.capabilities()
    for attempt in (1, 2):
        token = tokens.token()
        try:
            if bearer:
                client.oauthbearer_login(address.user, token.value)
            else:
                client.oauth2_login(address.user, token.value)
            return Login("OAUTHBEARER" if bearer else "XOAUTH2", token)
        except LoginError as error:
            tokens.forget(token)
            if attempt == 2:
                reason = " ".join(str(error).split())[:200]
                raise ConfigError(f"[inbox] {address.name}: the server refused the OAuth 2.0 token for "
                                  f"{address.user}: {reason}; {MAILBOX_HINT}") from None
    raise AssertionError("unreachable")

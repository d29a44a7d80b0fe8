"""Logging in to the office's SMTP submission server: with the password, or with an OAuth 2.0 access token
over SASL OAUTHBEARER (RFC 7628) where the server offers it, else XOAUTH2 (aiosmtplib's `auth_xoauth2`;
what Microsoft 365 offers).

A token the server refuses for good is forgotten and a new one tried once; a second refusal raises
aiosmtplib's SMTPAuthenticationError, which the sender turns into a refused login with what to check.
"""

from __future__ import annotations

import asyncio
import base64

import aiosmtplib

from hub.oauth2.source import TokenSource

# A failed OAUTHBEARER exchange ends with the client's %x01 (RFC 7628 §3.2.3), in base64.
OAUTHBEARER_ABORT = base64.b64encode(b"\x01")
TOKEN_HINT = ("check the application's SMTP.SendAsApp permission, SMTP AUTH for the mailbox "
              "(Set-CASMailbox -SmtpClientAuthenticationDisabled $false) and Add-RecipientPermission on Microsoft "
              "365, or [oauth2] subject and domain-wide delegation on Google")


async def log_in(client: aiosmtplib.SMTP, user: str, password: str | None, tokens: TokenSource | None) -> str:
    """Log in as `user`; returns how ("password", "OAUTHBEARER" or "XOAUTH2")."""
    if tokens is None:
        assert password is not None
        await client.login(user, password)
        return "password"
    bearer = "oauthbearer" in client.server_auth_methods
    for attempt in (1, 2):
        token = await asyncio.to_thread(tokens.token)  # may ask the provider: not on the event loop
        try:
            if bearer:
                await _oauthbearer(client, user, token.value)
            else:
                await client.auth_xoauth2(user, token.value)
            return "OAUTHBEARER" if bearer else "XOAUTH2"
        except aiosmtplib.SMTPAuthenticationError as error:
            tokens.forget(token)
            if attempt == 2 or 400 <= error.code < 500:
                raise
    raise AssertionError("unreachable")


async def _oauthbearer(client: aiosmtplib.SMTP, user: str, token: str) -> None:
    header = "n,a=" + user.replace("=", "=3D").replace(",", "=2C") + ","
    message = f"{header}\x01auth=Bearer {token}\x01\x01".encode()
    response = await client.execute_command(b"AUTH", b"OAUTHBEARER", base64.b64encode(message))
    if response.code == 334:  # the server's error, as a challenge: answered with %x01 for the final reply
        response = await client.execute_command(OAUTHBEARER_ABORT)
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)

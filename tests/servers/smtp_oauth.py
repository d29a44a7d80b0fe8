"""SASL XOAUTH2 and OAUTHBEARER (RFC 7628) for the test SMTP server (tests/servers/smtp.py): each token is
judged by the server's `oauth2` check, an authorization server's introspection (tests/servers/oauth2.py),
as Microsoft 365 and Gmail judge theirs."""

from __future__ import annotations

import base64
import json

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.servers.smtp import _Handler


class OAuthHandler(_Handler):
    """The handler with SASL XOAUTH2 and OAUTHBEARER (RFC 7628): each token is judged by the server's
    `oauth2` check (an authorization server's introspection), as Microsoft 365 and Gmail judge theirs."""

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(smtp, args, b"user=", b"auth=Bearer ", b"")

    async def auth_OAUTHBEARER(self, smtp: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(smtp, args, b"n,a=", b"auth=Bearer ", b"\x01")

    async def _bearer(self, smtp: SMTP, args: list[str], user_key: bytes, token_key: bytes,
                      abort: bytes) -> AuthResult:
        given = base64.b64decode(args[1]) if len(args) > 1 else await smtp.challenge_auth("", encode_to_b64=False)
        if not isinstance(given, bytes):
            return AuthResult(success=False, handled=True)
        answer = given
        user = token = b""
        for field_ in answer.split(b"\x01"):
            if field_.startswith(user_key):
                user = field_[len(user_key):].split(b",")[0]
            elif field_.startswith(token_key):
                token = field_[len(token_key):]
        check = self.server.oauth2
        mechanism = "XOAUTH2" if user_key == b"user=" else "OAUTHBEARER"
        with self.server._lock:
            self.server.oauth_logins.append((mechanism, user.decode(), token.decode()))
        if check is not None and check(user.decode(), token.decode()):
            return AuthResult(success=True, auth_data=LoginPassword(user, b""))
        # The error goes as a challenge, which the client answers (empty, or %x01) before the final 535.
        error = base64.b64encode(json.dumps({"status": "401", "schemes": "bearer"}).encode()).decode()
        await smtp.challenge_auth(error, encode_to_b64=False)
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")

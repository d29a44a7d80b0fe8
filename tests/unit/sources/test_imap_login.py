"""A login the IMAP server refuses stops the daemon; one it cannot check for now (RFC 5530 UNAVAILABLE, as
Dovecot answers while its auth service restarts, or "Shutting down" while it stops: seen against the test
Dovecot, a LOGIN sent while it stopped) is an outage the daemon waits out."""

from __future__ import annotations

import pytest
from imapclient.exceptions import LoginError

from hub.core.errors import ConfigError, TemporaryError
from hub.sources.imap import ImapAddress, login_failure

ADDRESS = ImapAddress.parse("imaps://casework@mail.doe.example.gov:993/INBOX")


@pytest.mark.parametrize("answer", [
    "b'[UNAVAILABLE] Temporary authentication failure. [mail.doe.example.gov:2026-12-05 15:05:02]'",
    "b'[SERVERBUG] Internal error occurred. Refer to server log for more information.'",
    "command: LOGIN => Shutting down",  # Dovecot, stopping, as imapclient reports it
])
def test_a_login_the_server_cannot_check_is_temporary(answer: str) -> None:
    failure = login_failure(ADDRESS, LoginError(answer))
    assert isinstance(failure, TemporaryError) and "cannot check the login for now" in str(failure)


@pytest.mark.parametrize("answer", [
    "b'[AUTHENTICATIONFAILED] Authentication failed.'",
    "b'LOGIN failed.'",  # Microsoft 365
    "b'[ALERT] Invalid credentials (Failure)'",  # Gmail
])
def test_a_refused_login_is_a_configuration_error(answer: str) -> None:
    failure = login_failure(ADDRESS, LoginError(answer))
    assert isinstance(failure, ConfigError) and str(failure) == (
        "[inbox] imap:casework@mail.doe.example.gov:993/INBOX: login refused for casework")

"""Fixtures for tests against real servers: a private Dovecot (and an office whose inbox is on it), and an
SMTP server that captures what the hub sends; an OAuth 2.0 authorization server, and a Dovecot that
introspects its tokens; an office whose `hub` commands run at its fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from tests.helpers import make_office
from tests.servers.dovecot import SENT, DovecotServer, require_dovecot, running_dovecot
from tests.servers.oauth2 import REFRESH_ENV, SECRET_ENV, OAuthServer, running_oauth
from tests.servers.smtp import SmtpServer, running_smtp


@pytest.fixture
def cli_office(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """An office on the test's database whose `hub` commands (hub.cli.main) run at the test's time."""
    hub = make_office(tmp_path / "office", database_url)
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    monkeypatch.setattr("hub.cli.context.open_hub", lambda path, _=None: open_hub(path, clock))
    yield hub
    hub.close()


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    require_dovecot()
    with running_dovecot(tmp_path / "dovecot") as server:
        yield server


@pytest.fixture
def imap_office(tmp_path: Path, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch,
                database_url: str) -> Iterator[Hub]:
    """An office (on SQLite and on PostgreSQL) reading its inbox from the private Dovecot."""
    monkeypatch.setenv("HUB_INBOX_PASSWORD", dovecot.password)
    hub = make_office(tmp_path / "office", database_url, inbox_url=dovecot.imap_url())
    yield hub
    hub.close()


@pytest.fixture
def sent_dovecot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DovecotServer]:
    """The office mailbox, with a folder marked \\Sent that the SMTP server files what it accepts in."""
    require_dovecot()
    with running_dovecot(tmp_path / "dovecot", sent_folder=SENT) as server:
        monkeypatch.setenv("HUB_INBOX_PASSWORD", server.password)
        yield server


@pytest.fixture
def filing_smtp(smtp: SmtpServer, sent_dovecot: DovecotServer) -> SmtpServer:
    smtp.file_sent_mail(sent_dovecot, SENT)
    return smtp


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port, capturing what the hub sends."""
    with running_smtp() as server:
        yield server


@pytest.fixture
def oauth(monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuthServer]:
    """A local authorization server; requests trusts its CA, and its secret and refresh token are in the
    environment under SECRET_ENV and REFRESH_ENV."""
    with running_oauth() as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
        monkeypatch.setenv(SECRET_ENV, server.client_secret)
        monkeypatch.setenv(REFRESH_ENV, server.refresh_token)
        yield server


@pytest.fixture
def oauth_dovecot(tmp_path: Path, oauth: OAuthServer) -> Iterator[DovecotServer]:
    """A private Dovecot that also takes OAUTHBEARER and XOAUTH2 logins, each token introspected at `oauth`."""
    require_dovecot()
    with running_dovecot(tmp_path / "dovecot") as server:
        server.stop()
        server.introspection_url = oauth.introspection_url
        server.start()
        yield server

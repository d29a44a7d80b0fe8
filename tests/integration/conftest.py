"""Fixtures for tests against real servers: a private Dovecot (and an office whose inbox is on it), and an
SMTP server that captures what the hub sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.app import Hub
from tests.helpers import make_office
from tests.servers.dovecot import DovecotServer, require_dovecot, running_dovecot
from tests.servers.smtp import SmtpServer, running_smtp


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
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port, capturing what the hub sends."""
    with running_smtp() as server:
        yield server

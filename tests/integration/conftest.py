"""Fixtures for tests against a private Dovecot: the server, and an office whose inbox is on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.app import Hub
from tests.helpers import make_office
from tests.servers.dovecot import DovecotServer, require_dovecot, running_dovecot


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

"""Fixtures: an office on SQLite and on PostgreSQL, and the servers the integration tests need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.app import Hub
from tests.helpers import make_office
from tests.postgres import PostgresDatabases, require


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    if databases.made:
        databases.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that asks for it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    reason = databases.unavailable_reason()
    if reason:
        require(reason)
    url = databases.fresh()
    yield url
    databases.release(url)


@pytest.fixture
def hub(tmp_path: Path, database_url: str) -> Iterator[Hub]:
    office = make_office(tmp_path / "office", database_url)
    yield office
    office.close()

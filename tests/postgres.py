"""Throwaway PostgreSQL databases on the server at 127.0.0.1:5432 (trust auth) for the suite.

One migrated template database per run; each test gets a fresh copy of it (CREATE DATABASE … TEMPLATE
is much faster than migrating again). A test's copy is dropped by a thread of its own while the next tests
run, since each DROP DATABASE waits for a checkpoint (a second or more on a busy server: a thousand of them
at the end of the run took minutes); what is left is dropped at the end of the run.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from hub.core.db import make_engine, migrate

SERVER = os.environ.get("HUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


def require(reason: str) -> None:
    """Skip with the reason on a developer's machine; fail under CI, where every test must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def end_other_connections(engine: Engine) -> None:
    """The server ends every other connection to the engine's database, as when it restarts or an
    administrator terminates them."""
    with engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()"))


class PostgresDatabases:
    def __init__(self) -> None:
        self.prefix = f"hub_test_{uuid.uuid4().hex[:8]}"
        self.admin: Engine = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
        self.template = f"{self.prefix}_template"
        self.made: list[str] = []
        self._count = 0
        self._to_drop: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._dropper: threading.Thread | None = None

    def unavailable_reason(self) -> str | None:
        try:
            with self.admin.connect() as connection:
                connection.execute(text("select 1"))
        except Exception as error:  # any failure to connect means "no server here"
            return f"PostgreSQL not reachable at {SERVER}: {type(error).__name__}"
        return None

    def _create(self, name: str, template: str | None = None) -> str:
        with self.admin.connect() as connection:
            suffix = f" TEMPLATE {template}" if template else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
        self.made.append(name)
        return f"{SERVER}/{name}"

    def fresh(self) -> str:
        """The URL of a new, migrated, empty database."""
        if self.template not in self.made:
            engine = make_engine(self._create(self.template))
            migrate(engine)
            engine.dispose()
        self._count += 1
        return self._create(f"{self.prefix}_{self._count}", self.template)

    def empty(self) -> str:
        """The URL of a new database without any table, as an administrator creates one for the hub."""
        self._count += 1
        return self._create(f"{self.prefix}_{self._count}")

    def release(self, url: str) -> None:
        """The test that had this database is over: drop it in the background."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_released, name="drop-test-databases", daemon=True)
            self._dropper.start()
        self._to_drop.put(url.rsplit("/", 1)[1])

    def _drop_released(self) -> None:
        while (name := self._to_drop.get()) is not None:
            try:
                self._drop(name)
            except Exception:  # left in `made`: drop_all tries again at the end
                continue

    def _drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.remove(name)

    def drop_all(self) -> None:
        if self._dropper is not None:
            self._to_drop.put(None)
            self._dropper.join()
        for name in reversed(list(self.made)):
            self._drop(name)
        self.admin.dispose()


@contextmanager
def bench_database(database: str, folder: Path) -> Iterator[str]:
    """A benchmark's database URL: a SQLite file in `folder`, or a fresh PostgreSQL database dropped
    afterwards; exits with the reason when the PostgreSQL server is not reachable."""
    if database == "sqlite":
        yield f"sqlite:///{folder}/hub.db"
        return
    postgres = PostgresDatabases()
    if (why := postgres.unavailable_reason()) is not None:
        sys.exit(f"cannot run: {why}")
    try:
        yield postgres.fresh()
    finally:
        postgres.drop_all()

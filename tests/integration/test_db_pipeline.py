"""PostgreSQL's pipeline mode (hub.core.db_pipeline) with a statement larger than the socket's buffers: a
message at the size limit is one such statement. Everything queued must reach the server before the
pipeline waits for a result, or both sides wait for each other for ever."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, LargeBinary, MetaData, Table, func, insert, select

from hub.core.db import make_engine
from hub.core.db_pipeline import Pipeline, write_only
from tests.postgres import PostgresDatabases, end_other_connections, require

BIG = 20 * 1024 * 1024  # far more than loopback's socket buffers hold
WAIT_SECONDS = 60  # a few seconds when it works; a hang otherwise

blobs = Table("pipeline_blobs", MetaData(), Column("id", Integer, primary_key=True), Column("body", LargeBinary))


@pytest.fixture
def engine(postgres: PostgresDatabases) -> Iterator[Engine]:
    reason = postgres.unavailable_reason()
    if reason:
        require(reason)
    url = postgres.empty()
    engine = make_engine(url)
    blobs.metadata.create_all(engine)
    yield engine
    engine.dispose()
    postgres.release(url)


def in_a_thread_or_hung(engine: Engine, work: Callable[[], object]) -> object:
    """`work`'s result; when it is still waiting after WAIT_SECONDS, its server connection is ended (so the
    thread can finish) and the test fails."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT_SECONDS)
    hung = thread.is_alive()
    if hung:
        end_other_connections(engine)
        thread.join(WAIT_SECONDS)
    assert not hung, f"the pipeline still waited after {WAIT_SECONDS} s: its last statement never reached the server"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]


@pytest.mark.parametrize("statements_after", [0, 1, 3])
def test_a_statement_larger_than_the_socket_buffers_reaches_the_server_before_the_pipeline_waits(
        engine: Engine, statements_after: int) -> None:
    body = bytes(range(256)) * (BIG // 256)

    def pipelined() -> tuple[int, int]:
        with engine.begin() as connection:
            pipeline = Pipeline(connection)
            connection.execute(write_only(insert(blobs).inline()), {"id": 1, "body": body})
            for n in range(statements_after):
                connection.execute(write_only(insert(blobs).inline()), {"id": 2 + n, "body": b"small"})
            count = connection.execute(select(func.count()).select_from(blobs)).scalar_one()
            size = connection.execute(select(func.length(blobs.c.body)).where(blobs.c.id == 1)).scalar_one()
            pipeline.close()
            return count, size

    assert in_a_thread_or_hung(engine, pipelined) == (1 + statements_after, BIG)

"""Storage benchmark: the database's size per 1,000 messages with each file stored once, against the old
layout (every raw message whole, beside its decoded files).

    python3 bench/storage.py [--database sqlite|postgresql] [--messages N] [--seed S]

For each layout, a fresh office (SQLite file, or a throwaway PostgreSQL database at the test suite's
server) files N messages from tests/mailgen.py (default 1,000; one in six carries a PDF or photo) through
the whole inbound path (hub.intake.pipeline.process), then delivers the letters they caused
(acknowledgements, and caseworker notices that enclose the messages' files) into the sent Maildir and
records the sent copies. Then the database is compacted (SQLite VACUUM, PostgreSQL VACUUM FULL) and its
size taken, less that of the same office before the mail.
  whole  the old layout: the cutting is switched off, so every raw message (inbound and sent) keeps its
         files' base64 and the files are kept besides (stored once each, as each was one row before).
  once   this code: each file stored once, cut out of the raw messages that carry or enclose it.
Filing and delivery are timed for each. Nothing asserts a size.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, select, text  # noqa: E402

from hub.core import file_store  # noqa: E402
from hub.core.app import Hub  # noqa: E402
from hub.core.models import Message, StoredFile  # noqa: E402
from hub.delivery.deliver import deliver_due  # noqa: E402
from hub.intake.parse.email import parse_email  # noqa: E402
from hub.intake.pipeline import Intake, process  # noqa: E402
from tests.helpers import START, make_office  # noqa: E402
from tests.mailgen import office_mailbox  # noqa: E402
from tests.postgres import bench_database  # noqa: E402

MB = 1024 * 1024


@dataclass(frozen=True)
class Layout:
    name: str
    size: int            # bytes the mail added to the compacted database
    raw: int             # bytes of raw messages kept in the rows (skeletons)
    files: int           # bytes of stored files
    filing: float        # seconds to file the N messages
    delivery: float      # seconds to deliver and record the letters they caused
    sent: int            # letters recorded


@contextmanager
def cutting(enabled: bool) -> Iterator[None]:
    """The old layout when not `enabled`: no file is found in any raw message, so each stays whole."""
    find = file_store.find_cuts
    if not enabled:
        file_store.find_cuts = lambda raw, files: []  # type: ignore[assignment]
    try:
        yield
    finally:
        file_store.find_cuts = find  # type: ignore[assignment]


def database_size(engine: Engine) -> int:
    """The database's size once compacted."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            return int(pages) * int(connection.exec_driver_sql("PRAGMA page_size").scalar_one())
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM FULL")
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def measure(name: str, hub: Hub, n: int, seed: int) -> Layout:
    before = database_size(hub.engine)
    intake = Intake.of(hub)
    start = time.perf_counter()
    for generated in office_mailbox(n, hub.refs, START.year, seed=seed):
        process(intake, generated.raw, "bench", parse_email)
    filing = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(100):  # each pass delivers what is due, up to its batch
        if not deliver_due(hub).counts:
            break
    delivery = time.perf_counter() - start
    with hub.sessions() as session:
        raw = int(session.scalar(select(func.coalesce(func.sum(func.length(Message.raw_skeleton)), 0))) or 0)
        files = int(session.scalar(select(func.coalesce(func.sum(StoredFile.size), 0))) or 0)
        sent = session.scalar(select(func.count()).select_from(Message).where(Message.direction == "out")) or 0
    return Layout(name, database_size(hub.engine) - before, raw, files, filing, delivery, sent)


def run(database: str, n: int, seed: int, enabled: bool, folder: Path) -> Layout:
    with bench_database(database, folder) as url, cutting(enabled):
        hub = make_office(folder / "office", url)
        try:
            return measure("once" if enabled else "whole", hub, n, seed)
        finally:
            hub.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("mailparser").setLevel(logging.ERROR)  # one warning per text/rfc822-headers part
    logging.getLogger("hub").setLevel(logging.ERROR)         # a quarantined malformed message, as generated
    results: list[Layout] = []
    for enabled in (False, True):
        with tempfile.TemporaryDirectory(prefix="hub-storage-") as folder:
            results.append(run(args.database, args.messages, args.seed, enabled, Path(folder)))
    report(args, results)
    return 0


def report(args: Any, results: list[Layout]) -> None:
    per = 1000 / args.messages
    whole, once = results
    print(f"\nstorage benchmark: {args.messages} messages, {args.database}, seed {args.seed}")
    for layout in results:
        print(f"  {layout.name:5}  {layout.size * per / MB:6.1f} MB per 1,000 messages "
              f"(raw in rows {layout.raw * per / MB:5.1f} MB, stored files {layout.files * per / MB:5.1f} MB); "
              f"filing {args.messages / layout.filing:5.0f} msgs/s, "
              f"{layout.sent} letters recorded at {layout.sent / layout.delivery:4.0f}/s")
    print(f"  ratio  once/whole {once.size / whole.size:.2f}")


if __name__ == "__main__":
    sys.exit(main())

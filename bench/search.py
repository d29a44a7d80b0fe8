"""Search benchmark: `hub search`'s query over a year of office mail, against a LIKE scan of the same table.

    python3 bench/search.py [--database sqlite|postgresql] [--messages N] [--repeat R] [--seed S]

A fresh office (SQLite file, or a throwaway PostgreSQL database at the test suite's server) gets a year of
office mail: N messages (default 100,000) from tests/mailgen.py, their subjects and plain-text bodies
written with bulk inserts on the cases mailgen threads them to (the index's triggers fill it as they go,
as intake's inserts do), with one constituent party a case. Then, for each of a few queries (a surname, a
topic word, a case reference, a constituent's address), R times each (default 7), alternating:
  search    hub.cases.search.search: the index, the newest hits' cases and snippets, as `hub search` makes them.
  baseline  SELECT id FROM messages WHERE subject LIKE '%term%' OR body LIKE '%term%' (ILIKE on PostgreSQL,
            which is case-sensitive otherwise): the plain scan the index replaces, ids only.
It prints each query's median and hits, the median over all runs of each, and the ratio. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from hub.cases.search import search  # noqa: E402
from hub.core.app import Hub  # noqa: E402
from hub.core.models import Case, Message, Party  # noqa: E402
from tests.helpers import START, make_office  # noqa: E402
from tests.mailgen import office_mailbox  # noqa: E402
from tests.postgres import bench_database  # noqa: E402

BATCH = 2_000
QUERIES = ("Kowalski", "passport", "{ref}", "{address}")


def _text(raw: bytes) -> tuple[str, str, str, str]:
    """Subject, plain text, sender name and address of one generated message ('' where it has none)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        part = message.get_body(("plain", "html"))
        body = part.get_content() if part is not None else ""
        name, address = message["From"].addresses[0].display_name, message["From"].addresses[0].addr_spec
        return str(message["Subject"] or ""), body, name, address
    except Exception:  # a deliberately malformed message: the hub would quarantine it
        return "", "", "", ""


def _rows(hub: Hub, n: int, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    year_start = START - timedelta(days=365)
    step = timedelta(days=365) / n
    for number, item in enumerate(office_mailbox(n, hub.refs, START.year, seed=seed)):
        subject, body, name, address = _text(item.raw)
        at = year_start + step * number
        if item.expect == "new-case" and item.case_sequence is not None:
            sequence = item.case_sequence
            yield "party", dict(id=sequence, role="constituent", name=name, email=address, created_at=at)
            yield "case", dict(id=sequence, ref=str(hub.refs.make(START.year, sequence)), status="open",
                               labels=[], subject=subject[:200], constituent_id=sequence, opened_at=at, updated_at=at,
                               contact_channel="email")
        if item.expect in ("quarantine", "duplicate"):
            continue
        yield "message", dict(case_id=item.case_sequence, direction="in", channel="email", kind="constituent",
                              disposition="case" if item.case_sequence else "triage", dedupe_key=f"m-{number}",
                              subject=subject, body=body, full_text=body, sender=address, recipients=[], at=at,
                              received_at=at)


def build(hub: Hub, n: int, seed: int) -> dict[str, int]:
    """The mail in bulk inserts, parties and cases before the messages that name them."""
    pending: dict[str, list[dict[str, Any]]] = {"party": [], "case": [], "message": []}
    counts = dict.fromkeys(pending, 0)
    models = {"party": Party, "case": Case, "message": Message}

    def flush() -> None:
        with hub.engine.begin() as connection:
            for kind in ("party", "case", "message"):
                if pending[kind]:
                    connection.execute(insert(models[kind]), pending[kind])
                    counts[kind] += len(pending[kind])
                    pending[kind].clear()
    for kind, row in _rows(hub, n, seed):
        pending[kind].append(row)
        if len(pending["message"]) >= BATCH:
            flush()
    flush()
    with hub.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return counts


def baseline(hub: Hub, term: str) -> int:
    like = "ILIKE" if hub.engine.dialect.name == "postgresql" else "LIKE"
    with hub.engine.connect() as connection:
        return len(connection.execute(text(f"SELECT id FROM messages WHERE subject {like} :pattern "
                                           f"OR body {like} :pattern"), {"pattern": f"%{term}%"}).all())


def searched(hub: Hub, term: str) -> int:
    with hub.sessions() as session:
        return len(search(session, term).hits)


def timed(work: Any, *args: Any) -> tuple[float, int]:
    start = time.perf_counter()
    result = work(*args)
    return time.perf_counter() - start, result


def measure(args: argparse.Namespace, folder: Path, url: str) -> None:
    load = os.getloadavg()[0]
    hub = make_office(folder / "office", url)
    started = time.perf_counter()
    counts = build(hub, args.messages, args.seed)
    built = time.perf_counter() - started
    middle = max(1, counts["case"] // 2)
    with hub.engine.connect() as connection:
        address = connection.execute(text("SELECT email FROM parties WHERE id = :id"), {"id": middle}).scalar()
    terms = [query.format(ref=hub.refs.make(START.year, middle), address=address) for query in QUERIES]
    lines, all_search, all_baseline = [], [], []
    for term in terms:
        searched(hub, term), baseline(hub, term)  # untimed: warms the pool and the database's cache
        mine, theirs = [], []
        for _ in range(args.repeat):
            spent, hits = timed(searched, hub, term)
            mine.append(spent)
            spent, scanned = timed(baseline, hub, term)
            theirs.append(spent)
        all_search += mine
        all_baseline += theirs
        lines.append(f"  {term:<20} search {statistics.median(mine) * 1000:8.1f} ms ({hits} hits shown)   "
                     f"LIKE {statistics.median(theirs) * 1000:8.1f} ms ({scanned} messages)")
    hub.close()
    ratio = statistics.median(all_baseline) / statistics.median(all_search)
    print(f"""
search benchmark: {args.database}, seed {args.seed}
  machine   {os.cpu_count()} CPUs, 1-min load average up to {max(load, os.getloadavg()[0]):.1f}
  data      {counts['message']} messages on {counts['case']} cases over a year; written and indexed in {built:.1f} s
{chr(10).join(lines)}
  medians   search {statistics.median(all_search) * 1000:.1f} ms, LIKE scan \
{statistics.median(all_baseline) * 1000:.1f} ms ({args.repeat} runs of each query)
  ratio     LIKE/search (medians) {ratio:.1f}""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder, \
            bench_database(args.database, Path(folder)) as url:
        measure(args, Path(folder), url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rendering benchmark: the time delivery spends filling in one letter, its context read and its template rendered.

    python3 bench/render.py [--letters N] [--repeat R]

A fresh office on SQLite, as bench/delivery.py makes one: N/2 constituents write in, each queueing an
acknowledgement and a caseworker's notice. Then, as a delivery pass does for each outbox row (one `Letters` for
the pass), `hub.letters.context.case_context` and `Letters.render` run for every row, R times over; the best
of the R passes is reported in microseconds a letter, of wall-clock time and of the process's CPU (SQLite runs
in the process: its CPU is counted; the CPU moves less with the machine's other load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from hub.core.app import Hub  # noqa: E402
from hub.core.models import Case, Outbox  # noqa: E402
from hub.letters.context import case_context  # noqa: E402
from hub.letters.templates import Letters  # noqa: E402
from tests.helpers import email, feed, make_office  # noqa: E402


def one_pass(hub: Hub) -> tuple[int, float, float]:
    """Render every pending row once; the rows, and the seconds (wall, CPU) spent in context and render."""
    letters = Letters(hub.config.resolve(hub.config.letters.folder))
    now, spent, cpu, count = hub.clock.now(), 0.0, 0.0, 0
    with hub.sessions() as session:
        rows = session.execute(select(Outbox, Case).join(Case, Case.id == Outbox.case_id)
                               .where(Outbox.state == "pending").order_by(Outbox.id)).all()
        for row, case in rows:
            started, started_cpu = time.perf_counter(), time.process_time()
            letters.render(row.letter, case_context(session, hub.config, case, now,
                                                    {**row.context, "letter": row.letter}))
            spent += time.perf_counter() - started
            cpu += time.process_time() - started_cpu
            count += 1
    return count, spent, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--letters", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder:
        hub = make_office(Path(folder) / "office", f"sqlite:///{folder}/hub.db")
        for person in range(args.letters // 2):
            feed(hub, email(sender=f"Person {person} <person{person}@example.com>", subject=f"Problem {person}",
                            body=f"My claim number {person} is stuck.", message_id=f"<render-{person}@example.com>"))
        passes = [one_pass(hub) for _ in range(args.repeat)]
        hub.close()
    count = passes[0][0]
    walls, cpus = [wall / count * 1e6 for _, wall, _ in passes], [cpu / count * 1e6 for _, _, cpu in passes]
    print(f"render benchmark: {count} letters, best of {args.repeat} passes: {min(walls):.0f} µs a letter, "
          f"{min(cpus):.0f} µs of CPU (passes {', '.join(f'{wall:.0f}' for wall in walls)}; "
          f"CPU {', '.join(f'{cpu:.0f}' for cpu in cpus)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

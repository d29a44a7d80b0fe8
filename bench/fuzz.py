"""Fuzz the whole inbound path with mutated real mail: nothing may escape it, nothing may take long.

    python3 bench/fuzz.py [--inputs N] [--seed S] [--database sqlite|postgresql] [--slow SECONDS]

Seeds are the shared corpus's messages (../shared/corpus, when it is beside the repository), the
generated office mail of tests/mailgen.py and the poison messages found before; tests/fuzzing.py
mutates them (bytes flipped and cut, NUL and 8-bit bytes in headers and parameters, broken boundaries
and folding, odd charsets and encodings, deep nesting, huge header lists, wrong references). Each input
goes through parse, screen, identify, thread, route and apply on a fresh office, in this process (no
network, no parse worker). An escape is anything raised out of that path, or an input still running
after 60 s; a slow input is one over `--slow` (5 s). The run prints the fates, the escapes, the slow
inputs and the slowest one; the exit status is 1 when there was an escape or a slow input.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzzing import corpus_seeds, generated_seeds, mutants, run  # noqa: E402
from tests.helpers import make_office  # noqa: E402
from tests.postgres import PostgresDatabases  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--slow", type=float, default=5.0)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # quarantine warnings for thousands of broken messages
    postgres = PostgresDatabases() if args.database == "postgresql" else None
    with tempfile.TemporaryDirectory() as folder:
        url = postgres.fresh() if postgres else f"sqlite:///{folder}/hub.db"
        hub = make_office(Path(folder) / "office", url)
        try:
            corpus = corpus_seeds()
            seeds = corpus + generated_seeds(hub.refs)
            print(f"seeds: {len(corpus)} corpus messages, {len(seeds) - len(corpus)} generated; "
                  f"{args.inputs} inputs, seed {args.seed}, {args.database}, load {os.getloadavg()[0]:.1f}")
            report = run(hub, mutants(seeds, args.inputs, args.seed, hub.refs), slow_seconds=args.slow)
        finally:
            hub.close()
            if postgres:
                postgres.drop_all()
    fates = ", ".join(f"{count} {fate}" for fate, count in report.fates.most_common())
    print(f"{report.inputs} inputs in {report.seconds:.0f} s ({report.inputs / report.seconds:.0f}/s): {fates}")
    print(f"escapes: {len(report.escapes)}; slower than {args.slow:g} s: {len(report.slow)}; "
          f"slowest: {report.slowest[1]:.2f} s ({report.slowest[0]})")
    for line in report.escapes[:50]:
        print(f"  escape {line}")
    for name, seconds in report.slow[:50]:
        print(f"  slow {seconds:.1f} s {name}")
    return 1 if report.escapes or report.slow else 0


if __name__ == "__main__":
    sys.exit(main())

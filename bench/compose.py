"""Compose benchmark: how long `hub.letters.compose.compose` takes for the letters a delivery pass sends.

    python3 bench/compose.py [--letters N] [--repeat R]

N letters (2,000 by default) made like bench/delivery.py's: half automatic acknowledgements to constituents,
answering their message, half caseworker notices of a new case, to staff. The best of R runs of composing
them all, in microseconds a letter. No database and no network: composing alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.core.config import load  # noqa: E402
from hub.core.refs import References  # noqa: E402
from hub.letters.compose import Outgoing, compose  # noqa: E402
from hub.letters.notice_thread import thread_index, thread_topic  # noqa: E402
from hub.run.office import init_office  # noqa: E402
from tests.helpers import START  # noqa: E402

ACKNOWLEDGEMENT = """Dear Person {n},

Thank you for contacting our office. This is an automatic reply to let
you know that we have received your message and opened a case for it.

A caseworker will read your message and get in touch with you, usually
within three business days.

To add information or send documents, simply reply to this email.
Please keep the case reference ({ref}) in the subject line so
your message reaches the right caseworker.

Sincerely,

Maria Lopez
Office of Representative Doe
"""
NOTICE = """New case

Case:         {ref}
Status:       new
Subject:      Problem {n}
Constituent:  Person {n}
Email:        person{n}@example.com
Agency:       (none yet)
Caseworker:   Maria Lopez

----- Message -----
From:     Person {n} <person{n}@example.com>
Subject:  Problem {n}

My claim number {n} is stuck.
----- End of message -----

Reply to this email to answer the constituent.
#help lists the commands.

casework-hub, Office of Representative Doe
"""


def letters(count: int, refs: References, domain: str) -> list[Outgoing]:
    made: list[Outgoing] = []
    for n in range(count // 2):
        ref = str(refs.make(26, n + 1))
        made.append(Outgoing(
            recipient=f"person{n}@example.com", subject=f"We received your message: Problem {n}",
            body=ACKNOWLEDGEMENT.format(n=n, ref=ref), message_id=refs.message_id(domain, ref), case_ref=ref,
            in_reply_to=f"<delivery-{n}@example.com>", automatic="auto-replied"))
        made.append(Outgoing(
            recipient=f"maria.lopez@{domain}", subject="New case", body=NOTICE.format(n=n, ref=ref),
            message_id=refs.message_id(domain, ref), case_ref=ref, to_staff=True,
            thread_topic=thread_topic(ref, f"Problem {n}"),
            thread_index=thread_index(domain, ref, START, START + timedelta(seconds=1))))
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        config = load(init_office(Path(work)))
    refs = References(config.office.reference_prefix, config.office.secret)
    outgoing = letters(args.letters, refs, config.office.address.rsplit("@", 1)[1])
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        for letter in outgoing:
            compose(letter, config, refs, START)
        best = min(best, time.perf_counter() - started)
    print(f"{len(outgoing)} letters: {best / len(outgoing) * 1e6:.0f} µs a letter (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

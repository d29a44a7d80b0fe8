"""Benchmark: the cost of finding a reply's new text, against the bare library in the same run.

    python3 bench/reply_text.py [--rounds N]

Times `hub.intake.parse.reply_text.new_text` over the discourse reply-trimmer corpus and the known
pathological inputs (deep quotes, a 750 KB quote), next to mail-parser-reply's own `parse_reply`
with English only (its cheapest setting) on the same texts, and prints both and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailparser_reply import EmailReplyParser  # noqa: E402

from hub.intake.parse.reply_text import new_text  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def texts() -> tuple[list[str], list[tuple[str, str]]]:
    discourse = CORPUS / "discourse-email_reply_trimmer"
    github = CORPUS / "github-email_reply_parser" / "emails"
    if not discourse.is_dir():
        raise SystemExit(f"corpus not found at {CORPUS}: ../shared must sit beside the repository")
    bodies = [p.read_text(encoding="utf-8") for p in sorted((discourse / "emails").glob("*.txt"))]
    traps = [discourse / "emails" / "spam_1.txt", discourse / "emails" / "spam_2.txt",
             discourse / "matchers" / "does_not_contain_embedded_email.txt",
             github / "pathological.txt", github / "email_long_quote.txt"]
    return bodies, [(p.name, p.read_text(encoding="utf-8")) for p in traps]


def seconds(function, bodies: list[str], rounds: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(rounds):
        for body in bodies:
            function(body)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    bodies, traps = texts()
    library = EmailReplyParser(languages=["en"])
    ours = seconds(new_text, bodies, args.rounds)
    bare = seconds(library.parse_reply, bodies, args.rounds)
    count = len(bodies) * args.rounds
    print(f"{len(bodies)} corpus replies x {args.rounds} rounds")
    print(f"new_text:               {ours / count * 1000:.3f} ms per message")
    print(f"library parse_reply:    {bare / count * 1000:.3f} ms per message (baseline, same run)")
    print(f"ratio new_text/library: {ours / bare:.2f}")
    for name, body in traps:
        ours, bare = seconds(new_text, [body], 1), seconds(library.parse_reply, [body], 1)
        print(f"  {name:<42} {len(body):>8} chars  new_text {ours * 1000:8.2f} ms  library {bare * 1000:8.2f} ms")


if __name__ == "__main__":
    main()

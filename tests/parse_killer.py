"""A parser whose process dies on a marked message, as a parse worker does when the kernel kills it for its
memory or a crash in C code takes it down: SIGKILL, no exception, no result; or that never ends on one.

    python -c "from tests.parse_killer import main; main()" CONFIG BATCH_SIZE

drains the office's Maildir inbox in batches of BATCH_SIZE with this parser in the parse worker and prints the
fates as JSON. A message with `X-Test-Kills-Parser: always` kills every process that parses it; one with
`X-Test-Kills-Parser: once` kills the first only (the file named by $HUB_TEST_KILLED_ONCE records that it did).
Run in a process of its own: a hub that parsed the message itself would be killed too.

A message with `X-Test-Hangs-Parser: loop` makes the parser loop for ever, in Python; one with
`X-Test-Hangs-Parser: deaf` too, with the signal of the worker's time limit ignored first: as deaf to it as C
code that never returns to the interpreter.

With $HUB_TEST_CORES set, the hub's process sees that many cores (os.cpu_count), as on a small virtual machine.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from hub.intake.message import InboundMessage
from hub.intake.parse.email import parse_email

ONCE_MARK = "HUB_TEST_KILLED_ONCE"
CORES = "HUB_TEST_CORES"


def killing_parser(raw: bytes, source: str, max_attachment_bytes: int) -> InboundMessage:
    if b"\nX-Test-Kills-Parser: always" in raw:
        os.kill(os.getpid(), signal.SIGKILL)
    if b"\nX-Test-Kills-Parser: once" in raw:
        mark = Path(os.environ[ONCE_MARK])
        if not mark.exists():
            mark.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
    if b"\nX-Test-Hangs-Parser: deaf" in raw:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        _for_ever()
    if b"\nX-Test-Hangs-Parser: loop" in raw:
        _for_ever()
    return parse_email(raw, source, max_attachment_bytes)


def _for_ever() -> None:
    while True:
        pass


def die() -> None:
    """A worker's initializer that kills it as it starts: a worker that can never run."""
    os.kill(os.getpid(), signal.SIGKILL)


def hang() -> None:
    """A worker's initializer that never returns: a worker that never starts (its interpreter stuck as it loads)."""
    while True:
        signal.pause()


def main() -> None:
    from hub.core.app import open_hub
    from hub.intake.drain import drain
    from hub.intake.parse.workers import parse_workers
    from hub.intake.pipeline import Intake
    from hub.sources.maildir import MaildirSource

    config, batch_size = Path(sys.argv[1]), int(sys.argv[2])
    if os.environ.get(CORES):
        cores = int(os.environ[CORES])
        os.cpu_count = lambda: cores
    hub = open_hub(config)
    try:
        inbox = hub.config.inbox
        assert inbox.url.startswith("maildir:"), "the office's inbox is a Maildir"
        root = hub.config.resolve(inbox.url.removeprefix("maildir:"))
        source = MaildirSource(root, inbox.processed_folder, inbox.quarantine_folder, batch_size,
                               hub.config.limits.max_message_bytes)
        with parse_workers() as workers:
            summary = drain(Intake.of(hub), source, killing_parser, workers=workers)
    finally:
        hub.close()
    print(json.dumps(dict(summary.fates)))

"""In a deployment the parse worker process an office's inbox starts writes, as the office's own threads do,
each log line starting with the office's name; a single office's worker writes its lines as they are."""

from __future__ import annotations

import io
import logging
import os
import threading

from hub.core import logs
from hub.intake.parse.workers import parse_workers


def a_line_in_the_worker() -> tuple[int, str]:
    """Run in the worker: a warning through a handler of the hub's format, and the worker's pid."""
    out = io.StringIO()
    handler = logs.private_handler(out)
    logger = logging.getLogger("hub.intake.parse.email")
    logger.addHandler(handler)
    try:
        logger.warning("a part of the message could not be read")
    finally:
        logger.removeHandler(handler)
    return os.getpid(), out.getvalue()


def worker_line(thread_name: str) -> tuple[int, str]:
    found: list[tuple[int, str]] = []

    def run() -> None:
        with parse_workers() as workers:
            assert workers is not None
            found.append(workers.submit(a_line_in_the_worker).result(60))
    thread = threading.Thread(target=run, name=thread_name)
    thread.start()
    thread.join(120)
    assert found, "the worker did not answer"
    return found[0]


def test_a_parse_worker_of_an_offices_inbox_names_the_office_in_each_line() -> None:
    pid, line = worker_line(f"{logs.OFFICE_THREAD}north job_0")
    assert pid != os.getpid(), "written in the worker process"
    assert "WARNING hub.intake.parse.email: north: a part of the message could not be read" in line, line

    pid, line = worker_line("hub-job_0")
    assert pid != os.getpid()
    assert "WARNING hub.intake.parse.email: a part of the message could not be read" in line, line

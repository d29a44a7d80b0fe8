"""The hub's log output: one handler on stderr whose every line, tracebacks included, is redacted.

Redacting in the handler rather than in each call means no log call can leak, whatever it passes:
an exception's text (a database error quoting the row, a parser quoting a header) reaches the log
only through here. The parse worker processes install the same handler.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import IO, TypeAlias

from hub.core import redact

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Every formatted line through `redact.log_text`; the traceback it caches on the record too, so a
    second handler that reuses it gets the redacted text."""

    def format(self, record: logging.LogRecord) -> str:
        return redact.log_text(super().format(record))

    def formatException(self, ei: ExcInfo) -> str:
        return redact.log_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact.log_text(super().formatStack(stack_info))


def private_handler(stream: IO[str]) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(FORMAT))
    return handler


def configure(level: int) -> None:
    """The root logger at `level` (INFO with -v, else WARNING), writing to stderr through the redaction."""
    logging.basicConfig(level=level, handlers=[private_handler(sys.stderr)])
    # mail-parser warns about every MIME part it does not render (e.g. text/rfc822-headers in each
    # bounce); the hub keeps the raw message whole, so that is not news at WARNING.
    logging.getLogger("mailparser").setLevel(logging.INFO if level <= logging.INFO else logging.ERROR)

"""The hub's log handler: whatever a log call passes it, no line says a full address, a phone number or
the row a database quoted back."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from hub.core.logs import private_handler

ADDRESS = "pat.rivera@example.net"
PHONE = "+19195550142"
FAILING_ROW = "Failing row contains (7, Pat Rivera, my benefits stopped in March)"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.unit.core.test_logs")
    handler = private_handler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_a_line_keeps_an_address_s_first_letter_and_domain_and_a_number_s_last_two_digits(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("reply from %s by text from %s", ADDRESS, PHONE)
    logger.warning(f"bounce for {ADDRESS}")  # a careless call formats the address in itself
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["reply from p…@example.net by text from +…42",
                                                         "bounce for p…@example.net"]


def test_a_traceback_keeps_its_exception_but_not_the_address_number_or_row_in_its_text(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    try:
        try:
            raise ValueError(f"refused {ADDRESS} ({PHONE})\nDETAIL:  {FAILING_ROW}.")
        except ValueError as error:
            raise RuntimeError("filing failed") from error
    except RuntimeError:
        logger.exception("could not file a message from %s", "maildir:1.eml")
    text = stream.getvalue()
    assert "could not file a message from maildir:1.eml" in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: filing failed" in text
    assert "ValueError: refused p…@example.net (+…42)" in text
    assert "DETAIL:  (hidden in logs: the database quotes the row's values here)" in text
    assert ADDRESS not in text and PHONE not in text and "benefits" not in text


def test_the_record_keeps_a_redacted_traceback_for_other_handlers(
        logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = seen.append  # type: ignore[method-assign]
    logger.addHandler(catcher)
    try:
        raise LookupError(ADDRESS)
    except LookupError:
        logger.exception("failed")
    finally:
        logger.removeHandler(catcher)
    [record] = seen
    assert record.exc_text is not None and ADDRESS not in record.exc_text

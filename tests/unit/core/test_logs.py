"""The hub's log handler: whatever a log call passes it, no line says a full address, a phone number or
the row a database quoted back."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

import pytest

from hub.cli.main import main
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


def journal_stream(path: Path, monkeypatch: pytest.MonkeyPatch) -> IO[str]:
    """A file opened as systemd would hand the journal's stream to a service: named in $JOURNAL_STREAM."""
    stream = path.open("w")
    status = os.fstat(stream.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
    return stream


def test_under_systemd_every_line_carries_its_priority_for_journald(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = journal_stream(tmp_path / "journal", monkeypatch)
    logger = logging.getLogger("tests.journal")
    logger.propagate = False
    handler = private_handler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("inbox %s unreachable", ADDRESS)
        logger.error("delivery stopped")
        try:
            raise ValueError(ADDRESS)
        except ValueError:
            logger.exception("filing failed")
        logger.critical("giving up")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        stream.close()
    lines = (tmp_path / "journal").read_text().splitlines()
    assert lines[:2] == ["<4>WARNING tests.journal: inbox p…@example.net unreachable",
                         "<3>ERROR tests.journal: delivery stopped"], "journald stamps the time itself"
    traceback = lines[2:-1]
    assert traceback[0] == "<3>ERROR tests.journal: filing failed" and len(traceback) > 3
    assert all(line.startswith("<3>") for line in traceback), "a traceback's lines are errors too"
    assert traceback[-1] == "<3>ValueError: p…@example.net"
    assert lines[-1] == "<2>CRITICAL tests.journal: giving up"


def test_another_stream_than_the_journal_s_gets_plain_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal_stream(tmp_path / "journal", monkeypatch).close()
    with (tmp_path / "terminal").open("w") as stream:
        record = logging.LogRecord("hub", logging.WARNING, __file__, 1, "late", None, None)
        private_handler(stream).handle(record)
    [line] = (tmp_path / "terminal").read_text().splitlines()
    assert line.endswith(" WARNING hub: late") and not line.startswith("<")


def test_json_lines_for_log_shippers_are_redacted_too() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.json")
    logger.propagate = False
    handler = private_handler(stream, "json")
    logger.addHandler(handler)
    try:
        logger.warning("bounce for %s from %s", ADDRESS, PHONE)
        try:
            raise LookupError(f"null value in column \"kind\"\nDETAIL:  {FAILING_ROW}.")
        except LookupError:
            logger.exception("could not file")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["level"], first["logger"], first["message"]) == ("warning", "tests.json",
                                                                   "bounce for p…@example.net from +…42")
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["message"] == "could not file" and "LookupError" in second["traceback"]
    assert "benefits" not in stream.getvalue() and ADDRESS not in stream.getvalue()


def test_the_command_line_logs_json_or_journal_lines(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path / "office")]) == 0
    config = str(tmp_path / "office" / "config" / "hub.toml")
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        status = os.fstat(stderr.fileno())
        journal = {**os.environ, "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        subprocess.run([sys.executable, "-m", "hub", "-v", "--config", config, "run", "--once"], env=journal,
                       stdout=subprocess.DEVNULL, stderr=stderr, timeout=120, check=True)
    lines = errors.read_text().splitlines()
    assert lines and all(line.startswith(("<6>", "<4>")) for line in lines), lines[:3]
    shipped = subprocess.run([sys.executable, "-m", "hub", "-v", "--log-format", "json", "--config", config, "run",
                              "--once"], capture_output=True, text=True, timeout=120, check=True)
    entries = [json.loads(line) for line in shipped.stderr.splitlines()]
    assert entries and {entry["level"] for entry in entries} <= {"info", "warning"}

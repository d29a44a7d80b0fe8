"""mypy holds for the whole package (STYLE: every function annotated, typed values across stages)."""

from __future__ import annotations

from pathlib import Path

from mypy import api

PACKAGE = Path(__file__).resolve().parents[2] / "hub"


def test_mypy_finds_no_errors_in_the_package() -> None:
    report, errors, status = api.run([str(PACKAGE), "--no-error-summary", "--cache-dir", "/tmp/hub-mypy-cache"])
    assert status == 0, report + errors

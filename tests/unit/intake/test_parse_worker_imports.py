"""The parse worker process imports only what parsing and screening need: every module it loads is memory
held for the whole run in a process of its own (the hub's database code, letters and web stack are not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub.intake.parse.workers import WORKER_MODULES

# Packages the parse worker never uses; each costs megabytes in every process that imports it.
HEAVY = ("sqlalchemy", "jinja2", "asyncio", "hub.core.models", "hub.core.db", "hub.letters.compose", "hub.cases",
         "hub.delivery", "twilio", "requests", "fpdf", "starlette", "uvicorn", "apscheduler", "icalendar",
         "holidays", "phonenumbers", "alembic")


def imported_by(modules: list[str]) -> set[str]:
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return set(result.stdout.split())


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_the_parse_worker_modules_import_nothing_heavy() -> None:
    assert heavy(imported_by([*WORKER_MODULES, "hub.intake.parse.email"])) == []


# Run as a script, as the `hub` console script runs: multiprocessing re-runs a script's main module in each
# worker it starts, unless told otherwise.
HUB_LIKE_SCRIPT = """\
import hub.cli.main
from hub.intake.parse.email import parse_email
from hub.intake.parse.workers import parse_workers

if __name__ == "__main__":
    with parse_workers() as workers:
        assert workers is not None
        workers.submit(parse_email, b"Subject: a first message\\r\\n\\r\\nIt loads the parser.", "test", 10**6).result()
        print("\\n".join(workers.submit(eval, "list(__import__('sys').modules)").result()))
"""


def test_the_parse_worker_process_started_by_the_hub_imports_nothing_heavy(tmp_path: Path) -> None:
    script = tmp_path / "hub_like.py"
    script.write_text(HUB_LIKE_SCRIPT)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "hub.intake.parse.email" in loaded
    assert heavy(loaded) == []

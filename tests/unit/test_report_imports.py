"""matplotlib is imported when a weekly report is drawn, never when the hub starts: not by `hub`'s command
line, the daemon, or the report's own module."""

from __future__ import annotations

import subprocess
import sys


def test_starting_the_hub_does_not_import_matplotlib() -> None:
    script = ("import sys, hub.cli.main, hub.run.daemon, hub.reports.weekly; "
              "print(sorted({name.split('.')[0] for name in sys.modules} & {'matplotlib', 'PIL', 'numpy'}))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout == "[]\n"

"""matplotlib is imported when a weekly report is drawn, and fpdf when a signed release's PDF is made, never when
the hub starts: not by `hub`'s command line, the daemon, the report's own module or the release page's. Each
brings Pillow and numpy: tens of megabytes in every hub process."""

from __future__ import annotations

import subprocess
import sys


def test_starting_the_hub_does_not_import_matplotlib() -> None:
    script = ("import sys, hub.cli.main, hub.run.daemon, hub.reports.weekly, hub.run.release_page; "
              "print(sorted({name.split('.')[0] for name in sys.modules} & "
              "{'matplotlib', 'PIL', 'numpy', 'fpdf', 'fontTools'}))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout == "[]\n"

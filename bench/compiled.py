"""The hub's modules compiled before a benchmark starts `hub` processes, as an installed hub has them.

pip compiles a package's modules when it installs it, so an office's hub starts from bytecode. A benchmark runs the
hub from the source tree; where the machine sets PYTHONDONTWRITEBYTECODE (a sandbox may), every `hub` process would
compile the hub's modules again, a quarter of a second of each start that no office pays. `hub_environment()`
compiles them once, beside the sources as Python keeps them (the standard library and the installed packages have
theirs already), and gives a child the environment it should run with.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hub_environment(**extra: str) -> dict[str, str]:
    """This process's environment with `extra`, for a `hub` child; the hub's modules compiled first."""
    _compile()
    return {**os.environ, **extra}


@functools.cache
def _compile() -> None:
    # Not checked: a module that does not compile fails the hub process itself, with its error.
    subprocess.run([sys.executable, "-m", "compileall", "-qq", str(ROOT / "hub")], check=False)

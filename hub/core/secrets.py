"""The one place the hub reads a secret (a password, a token, a client secret, `HUB_SECRET`) by the name
a `*_env` key of the configuration gives it.

A file of that name in `$CREDENTIALS_DIRECTORY` comes first: systemd puts there what a unit's
`LoadCredential=` lines name, readable by the service alone and never in its environment. Without one,
the environment variable of that name. The file's text loses one trailing newline (an editor's, or
`echo`'s), nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

CREDENTIALS = "CREDENTIALS_DIRECTORY"


def secret(name: str) -> str | None:
    """The secret called `name`: $CREDENTIALS_DIRECTORY/name when that file exists, else $name; None when
    neither is set."""
    if not name:
        return None
    folder = os.environ.get(CREDENTIALS)
    # A name with a slash or a dot-dot would reach outside the folder: only the environment can hold it.
    if folder and "/" not in name and name not in (".", ".."):
        path = Path(folder) / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            return text[:-1] if text.endswith("\n") else text
    return os.environ.get(name)

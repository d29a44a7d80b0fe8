"""Files and folders on disk are the service user's alone: every file the hub writes is 0600 and every
folder it makes 0700, whatever the umask it was started with.

The office folder holds constituents' mail, the database and the reference secret. The command line
sets the umask to 077 (and so do the processes it starts); the helpers here set the modes explicitly
too, since `mkdir`'s mode is masked by the umask and a library caller may have a looser one. Offices
made by older versions are tightened where the hub finds them (`tighten`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

UMASK = 0o077
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def make_folder(path: Path) -> None:
    """`path` and every missing folder above it, each 0700; folders that exist are left as they are."""
    if path.is_dir():
        return
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(FOLDER_MODE)
        except FileExistsError:  # made meanwhile by another process: it decided the mode
            continue
        os.chmod(folder, FOLDER_MODE)


def write_file(path: Path, data: bytes | str) -> None:
    """Write `path` (replacing what it held) with mode 0600."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(descriptor, FILE_MODE)  # a file that was there keeps its old mode through O_CREAT
        handle.write(data.encode() if isinstance(data, str) else data)


def create_file(path: Path) -> None:
    """An empty file with mode 0600 at `path`, unless there is one already."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.fchmod(descriptor, FILE_MODE)
    os.close(descriptor)


def tighten(path: Path, mode: int) -> None:
    """Take away from `path` what others may do beyond `mode`, when it is ours.

    A file of another user's (a configuration root keeps, readable by the service's group) is how that
    user chose to share it with us: only access for every user on the machine is worth a warning."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    current = stat.S_IMODE(status.st_mode)
    if not current & ~mode & 0o077:
        return
    if status.st_uid != os.geteuid():
        if current & 0o007:
            log.warning("%s is open to every user on this machine (%04o); its owner can close it", path, current)
        return
    try:
        os.chmod(path, current & mode)
    except OSError as error:  # a read-only file system, say: the office still runs
        log.warning("%s is open to other users (%04o) and cannot be closed: %s", path, current, error.strerror)
        return
    log.warning("%s was open to other users (%04o); now %04o", path, current, current & mode)

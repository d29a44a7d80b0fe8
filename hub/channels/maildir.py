"""A Maildir folder as an inbound source (the embedded default) and as a place to keep sent mail.

Processed messages move to the `.Processed` subfolder and failed ones to `.Quarantine` (Maildir++),
only after their outcome is committed.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator
from pathlib import Path

from hub.inbox import Item
from hub.private_files import make_folder


def ensure_maildir(root: Path) -> None:
    """The Maildir `root` with its cur/, new/ and tmp/: what is missing is made 0700."""
    for sub in ("cur", "new", "tmp"):
        make_folder(root / sub)


def maildir_name(root: Path) -> str:
    """The source's name in logs and `hub status`."""
    return f"maildir:{root}"


class MaildirSource:
    def __init__(self, root: Path, processed_folder: str, quarantine_folder: str, batch_size: int) -> None:
        self.root = root
        self.name = maildir_name(root)
        self.batch_size = batch_size
        self.processed = root / f".{processed_folder}"
        self.quarantine = root / f".{quarantine_folder}"

    def batches(self) -> Iterator[list[Item]]:
        ensure_maildir(self.root)
        paths = sorted((p for sub in ("new", "cur") for p in (self.root / sub).iterdir() if p.is_file()),
                       key=lambda p: p.name)
        for start in range(0, len(paths), self.batch_size):
            batch = []
            for path in paths[start:start + self.batch_size]:
                try:
                    batch.append(Item(path, path.read_bytes(), f"maildir:{path.name}"))
                except FileNotFoundError:  # taken by another process since the listing
                    continue
            if batch:
                yield batch

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        for keys, folder in ((done, self.processed), (quarantined, self.quarantine)):
            if not keys:
                continue
            ensure_maildir(folder)
            for key in keys:
                path = Path(str(key))
                name = path.name if ":2," in path.name else f"{path.name}:2,S"
                try:
                    os.replace(path, folder / "cur" / name)
                except FileNotFoundError:
                    continue

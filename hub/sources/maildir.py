"""A Maildir folder as an inbound source (the embedded default) and as a place to keep sent mail.

Processed messages move to the `.Processed` subfolder and failed ones to `.Quarantine` (Maildir++),
only after their outcome is committed. A message's size is its file's, known before it is read: one
over the limit is read only as far as its header and moves to `.Quarantine` like any failed one.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator
from pathlib import Path

from hub.core.private_files import make_folder
from hub.intake.drain import Item
from hub.intake.message import Oversized
from hub.sources.message_size import batched_by_size, is_oversized, read_message


def ensure_maildir(root: Path) -> None:
    """The Maildir `root` with its cur/, new/ and tmp/: what is missing is made 0700."""
    for sub in ("cur", "new", "tmp"):
        make_folder(root / sub)


def maildir_name(root: Path) -> str:
    """The source's name in logs and `hub status`."""
    return f"maildir:{root}"


def _seen_name(path: Path) -> str:
    """The file's name in a folder's cur/ once acknowledged: marked seen unless it carries flags already."""
    return path.name if ":2," in path.name else f"{path.name}:2,S"


class MaildirSource:
    def __init__(self, root: Path, processed_folder: str, quarantine_folder: str, batch_size: int,
                 max_message_bytes: int) -> None:
        self.root = root
        self.name = maildir_name(root)
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self.processed = root / f".{processed_folder}"
        self.quarantine = root / f".{quarantine_folder}"

    def batches(self) -> Iterator[list[Item]]:
        ensure_maildir(self.root)
        paths = sorted((p for sub in ("new", "cur") for p in (self.root / sub).iterdir() if p.is_file()),
                       key=lambda p: p.name)
        for group in batched_by_size(self._sized(paths), lambda sized: sized[1], self.batch_size,
                                     self.max_message_bytes):
            batch = [item for path, size in group if (item := self._read(path, size)) is not None]
            if batch:
                yield batch

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        for keys, folder in ((done, self.processed), (quarantined, self.quarantine)):
            if not keys:
                continue
            ensure_maildir(folder)
            for key in keys:
                path = Path(str(key))
                try:
                    os.replace(path, folder / "cur" / _seen_name(path))
                except FileNotFoundError:
                    continue

    @staticmethod
    def _sized(paths: list[Path]) -> Iterator[tuple[Path, int]]:
        for path in paths:
            try:
                yield path, path.stat().st_size
            except FileNotFoundError:  # taken by another process since the listing
                continue

    def _read(self, path: Path, size: int) -> Item | None:
        try:
            with path.open("rb") as handle:
                raw = read_message(handle, 0, size, self.max_message_bytes)
        except FileNotFoundError:  # taken by another process since the listing
            return None
        oversized = None
        if is_oversized(size, self.max_message_bytes):
            oversized = Oversized(size, str(self.quarantine / "cur" / _seen_name(path)))
        return Item(path, raw, f"maildir:{path.name}", oversized)

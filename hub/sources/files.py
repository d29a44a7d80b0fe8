"""Files named on the command line as an inbound source: single .eml messages and mbox archives.

The same path as every other source, and the way to import an office's old mail. Files are left
where they are; a rerun is harmless because stored messages are recognised as duplicates. Each
message's size is known before it is read (the file's, or its span in the mbox): one over the limit
is read only as far as its header, and its quarantine item names the file.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.core.errors import UserError
from hub.intake.drain import Item
from hub.intake.message import Oversized
from hub.sources.mbox import mbox_spans
from hub.sources.message_size import batched_by_size, is_oversized, read_message


def is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


@dataclass(frozen=True)
class _Entry:
    """A message in a file, found but not yet read."""

    key: Hashable
    path: Path
    start: int
    size: int
    source: str
    place: str  # where the message is, for the quarantine item of one over the limit


class FileSource:
    def __init__(self, paths: list[Path], max_message_bytes: int, batch_size: int = 100) -> None:
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"no such file: {', '.join(missing)}")
        self.paths = paths
        self.max_message_bytes = max_message_bytes
        self.batch_size = batch_size
        self.name = "ingest"

    def batches(self) -> Iterator[list[Item]]:
        for entries in batched_by_size(self._entries(), lambda entry: entry.size, self.batch_size,
                                       self.max_message_bytes):
            yield [self._read(entry) for entry in entries]

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        """Files stay in place: nothing to acknowledge."""

    def _entries(self) -> Iterator[_Entry]:
        for path in self.paths:
            if is_mbox(path):
                for number, (start, stop) in enumerate(mbox_spans(path), start=1):
                    yield _Entry((path, number), path, start, stop - start, f"ingest:{path.name}#{number}",
                                 f"{path.resolve()}, message {number} (bytes {start}-{stop})")
            else:
                yield _Entry((path, 0), path, 0, path.stat().st_size, f"ingest:{path.name}", str(path.resolve()))

    def _read(self, entry: _Entry) -> Item:
        with entry.path.open("rb") as handle:
            raw = read_message(handle, entry.start, entry.size, self.max_message_bytes)
        oversized = Oversized(entry.size, entry.place) if is_oversized(entry.size, self.max_message_bytes) else None
        return Item(entry.key, raw, entry.source, oversized)

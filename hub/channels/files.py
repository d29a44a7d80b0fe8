"""Files named on the command line as an inbound source: single .eml messages and mbox archives.

The same path as every other source, and the way to import an office's old mail. Files are left
where they are; a rerun is harmless because stored messages are recognised as duplicates.
"""

from __future__ import annotations

import mailbox
from collections.abc import Hashable, Iterator
from pathlib import Path

from hub.errors import UserError
from hub.inbox import Item


def is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


class FileSource:
    def __init__(self, paths: list[Path], batch_size: int = 100) -> None:
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"no such file: {', '.join(missing)}")
        self.paths = paths
        self.batch_size = batch_size
        self.name = "ingest"

    def items(self) -> Iterator[Item]:
        for path in self.paths:
            if is_mbox(path):
                box = mailbox.mbox(str(path), create=False)
                try:
                    for number, key in enumerate(box.iterkeys(), start=1):
                        yield Item((path, number), box.get_bytes(key), f"ingest:{path.name}#{number}")
                finally:
                    box.close()
            else:
                yield Item((path, 0), path.read_bytes(), f"ingest:{path.name}")

    def batches(self) -> Iterator[list[Item]]:
        batch: list[Item] = []
        for item in self.items():
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        """Files stay in place: nothing to acknowledge."""

"""How much of a message a source reads, decided by its size before reading it: the whole of one within
[limits] max_message_bytes, only the header of one over it, and batches bounded in bytes as well as in
messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar

# Of a message over the limit, only the header is read, and of the header at most this much: enough for
# who sent it and its subject, and a header that never ends costs no more.
HEADER_BYTES = 64 * 1024
# A batch is read while the previous one is parsed and filed, so the hub holds two or three at once, and
# their parsed messages: bounding their bytes keeps its memory near one large message's size plus a few
# times this, whatever batch_size is. At 2 MiB a batch of typical office mail (15 KB a message on
# average) is about 140 messages; each batch costs one durable commit and one round trip, a few ms.
BATCH_BYTES = 2 * 1024 * 1024

T = TypeVar("T")


def is_oversized(size: int, limit: int) -> bool:
    return size > limit


def header_part(head: bytes) -> bytes:
    """The header section among a message's first bytes, up to and including the blank line that ends it;
    all of `head` when the header goes on beyond it."""
    ends = [found + len(blank) for blank in (b"\r\n\r\n", b"\n\n") if (found := head.find(blank)) >= 0]
    return head[:min(ends)] if ends else head


def read_message(handle: BinaryIO, start: int, size: int, limit: int) -> bytes:
    """The message of `size` bytes at `start`: whole within `limit`, else only its header."""
    handle.seek(start)
    if not is_oversized(size, limit):
        return handle.read(size)
    return header_part(handle.read(min(size, HEADER_BYTES)))


def batched_by_size(entries: Iterable[T], size_of: Callable[[T], int], most: int, limit: int) -> Iterator[list[T]]:
    """Consecutive batches of at most `most` entries and BATCH_BYTES of what will be read (an oversized
    message counts as its header); a message larger than BATCH_BYTES makes a batch of its own."""
    batch: list[T] = []
    batch_bytes = 0
    for entry in entries:
        size = size_of(entry)
        read = min(size, HEADER_BYTES) if is_oversized(size, limit) else size
        if batch and (len(batch) >= most or batch_bytes + read > BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(entry)
        batch_bytes += read
    if batch:
        yield batch

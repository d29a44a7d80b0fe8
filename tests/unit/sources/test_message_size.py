"""How much of a message a source reads, and how batches are bounded in bytes."""

from __future__ import annotations

import io

from hub.sources.message_size import BATCH_BYTES, HEADER_BYTES, batched_by_size, header_part, read_message

MB = 1024 * 1024


def test_the_header_part_ends_at_the_first_blank_line_of_either_kind() -> None:
    assert header_part(b"From: a\r\nSubject: b\r\n\r\nbody\r\n\r\nmore") == b"From: a\r\nSubject: b\r\n\r\n"
    assert header_part(b"From: a\nSubject: b\n\nbody\n\nmore") == b"From: a\nSubject: b\n\n"
    assert header_part(b"From: a\n\nbody\r\n\r\n") == b"From: a\n\n"
    assert header_part(b"X-Endless: " + b"y" * 100) == b"X-Endless: " + b"y" * 100, "no end: all that was read"


def test_a_message_within_the_limit_is_read_whole_and_one_over_it_only_to_its_header() -> None:
    message = b"Subject: s\r\n\r\n" + b"b" * 100
    handle = io.BytesIO(b"junk" + message)
    assert read_message(handle, 4, len(message), len(message)) == message
    assert read_message(handle, 4, len(message), len(message) - 1) == b"Subject: s\r\n\r\n"
    endless = b"X-Endless: " + b"y" * (2 * HEADER_BYTES)
    assert read_message(io.BytesIO(endless), 0, len(endless), 10) == endless[:HEADER_BYTES]


def test_batches_are_bounded_in_messages_and_in_bytes_counting_an_oversized_message_as_its_header() -> None:
    def batches(sizes: list[int], most: int = 100, limit: int = 50 * MB) -> list[list[int]]:
        return [[size for _, size in batch]
                for batch in batched_by_size(list(enumerate(sizes)), lambda entry: entry[1], most, limit)]

    assert batches([1] * 5, most=2) == [[1, 1], [1, 1], [1]]
    assert batches([BATCH_BYTES // 2, BATCH_BYTES // 2, 1]) == [[BATCH_BYTES // 2, BATCH_BYTES // 2], [1]]
    assert batches([1, 40 * MB, 1]) == [[1], [40 * MB], [1]], "a message over the budget makes a batch of its own"
    assert batches([1, 200 * MB, 300 * MB, 1]) == [[1, 200 * MB, 300 * MB, 1]], "only their headers are read"

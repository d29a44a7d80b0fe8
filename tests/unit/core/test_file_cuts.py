"""The base64 of a file is cut out of raw bytes only where it is exactly the file's canonical encoding,
and spliced back byte for byte; anything else stays where it was."""

from __future__ import annotations

import hashlib
import random
import time
from base64 import b64encode

import pytest

from hub.core.file_cuts import find_cuts, skeleton, splice


def encoded(data: bytes, width: int, ending: bytes) -> bytes:
    text = b64encode(data)
    return ending.join(text[at:at + width] for at in range(0, len(text), width))


def round_trip(raw: bytes, *files: bytes) -> tuple[bytes, int]:
    """The skeleton's length and how many cuts, after checking that splicing gives `raw` back."""
    by_hash = {hashlib.sha256(data).hexdigest(): data for data in files}
    kept, cuts = skeleton(raw, find_cuts(raw, by_hash))
    assert splice(kept, cuts, by_hash.__getitem__) == raw
    return kept, len(cuts)


@pytest.mark.parametrize("size", [256, 3000, 3001, 3002, 57 * 1024, 57 * 1024 + 1, 300_000])
@pytest.mark.parametrize(("width", "ending"), [(76, b"\r\n"), (76, b"\n"), (64, b"\r\n"), (40, b"\n"), (10**9, b"\n")])
def test_a_file_in_any_line_length_and_ending_is_cut_and_put_back(size: int, width: int, ending: bytes) -> None:
    data = random.Random(size).randbytes(size)
    raw = b"Subject: scan\r\n\r\n--b\r\n\r\n" + encoded(data, width, ending) + ending + b"--b--" + ending
    kept, cuts = round_trip(raw, data)
    assert cuts == 1 and len(kept) == len(raw) - len(encoded(data, width, ending))


def test_the_same_file_twice_is_cut_twice_and_a_file_not_there_is_not() -> None:
    data, absent = random.Random(1).randbytes(5000), random.Random(2).randbytes(5000)
    raw = b"a\n" + encoded(data, 76, b"\n") + b"\nb\n" + encoded(data, 76, b"\n") + b"\n"
    assert round_trip(raw, data, absent)[1] == 2


@pytest.mark.parametrize("spoil", [
    lambda text: text.replace(b"\r\n", b" \r\n"),            # a space at each line's end
    lambda text: text[:-2],                                   # the padding left off
    lambda text: text.replace(b"\r\n", b"\r\n", 3).replace(b"\r\n", b"\n", 1),  # one line ended otherwise
])
def test_base64_that_is_not_the_files_own_encoding_stays_in_the_skeleton(spoil: object) -> None:
    data = random.Random(3).randbytes(4001)
    raw = b"x\r\n" + spoil(encoded(data, 76, b"\r\n")) + b"\r\n"  # type: ignore[operator]
    kept, cuts = round_trip(raw, data)
    assert (kept, cuts) == (raw, 0)


def test_odd_line_lengths_stay_in_the_skeleton() -> None:
    data = random.Random(4).randbytes(4000)
    raw = b"x\n" + encoded(data, 70, b"\n") + b"\n"
    assert round_trip(raw, data) == (raw, 0)


def test_a_file_whose_start_recurs_on_every_line_is_looked_for_in_linear_time() -> None:
    line = random.Random(5).randbytes(57)
    data = line * 40_000  # 2.2 MB whose first bytes recur at every line of its base64
    raw = b"x\n" + encoded(data, 76, b"\n")[:-4] + b"AAAA\n"  # the last characters spoiled
    started = time.monotonic()
    assert round_trip(raw, data)[1] == 0
    assert time.monotonic() - started < 5


def test_a_cut_that_cannot_be_where_it_says_is_an_error() -> None:
    data = random.Random(6).randbytes(1000)
    by_hash = {hashlib.sha256(data).hexdigest(): data}
    kept, cuts = skeleton(b"x\n" + encoded(data, 76, b"\n"), find_cuts(b"x\n" + encoded(data, 76, b"\n"), by_hash))
    moved = [cuts[0].__class__(len(kept) + 1, 0, cuts[0].sha256, 76, "lf")]
    with pytest.raises(ValueError, match="cannot be"):
        splice(kept, moved, by_hash.__getitem__)

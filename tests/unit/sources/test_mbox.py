"""The mbox scan finds the spans the standard library's `mailbox.mbox` finds, reading a block at a time."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from hub.sources.mbox import mbox_spans

FROM = b"From sender@example.com Mon Nov 23 10:00:00 2026\n"
ARCHIVES = {
    "plain": FROM + b"Subject: one\n\nbody\n\n" + FROM + b"Subject: two\n\nbody two\n",
    "blank line at the end": FROM + b"Subject: one\n\nbody\n\n",
    "no newline at the end": FROM + b"Subject: one\n\nbody\n\n" + FROM + b"Subject: two\n\nlast",
    "no blank line between": FROM + b"Subject: one\n\nbody\n" + FROM + b"Subject: two\n\nx\n",
    "CRLF lines": FROM.replace(b"\n", b"\r\n") + b"Subject: one\r\n\r\nbody\r\n\r\n" + FROM + b"Subject: 2\r\n\r\n",
    "unescaped From in a body": FROM + b"Subject: one\n\nbody\nFrom here on\nmore\n\n" + FROM + b"S: 2\n\nb\n",
    "escaped From in a body": FROM + b"Subject: one\n\nbody\n>From here on\n\n",
    "empty messages": FROM + b"\n" + FROM + FROM + b"\n\n" + FROM,
    "a From line and nothing else": b"From x",
    "several blank lines": FROM + b"Subject: one\n\nbody\n\n\n\n" + FROM + b"Subject: two\n\n\n",
    "a line longer than the block": FROM + b"Subject: " + b"y" * 100 + b"\nFrom in the long line\n\n" + FROM + b"x\n",
    "a long From line": b"From " + b"z" * 100 + b"\nSubject: one\n\nbody\n\n" + b"From " + b"q" * 60 + b"\n\n",
    "a long line ending at From": FROM + b"Subject: one\n\n" + b"w" * 37 + b"From not at a line start\n\n",
}


@pytest.mark.parametrize("name", ARCHIVES)
@pytest.mark.parametrize("block", [7, 16, 1024 * 1024])
def test_spans_are_the_standard_librarys(tmp_path: Path, name: str, block: int) -> None:
    path = tmp_path / "archive.mbox"
    path.write_bytes(ARCHIVES[name])
    box = mailbox.mbox(str(path), create=False)
    try:
        expected = [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()
    content = path.read_bytes()
    assert [content[start:stop] for start, stop in mbox_spans(path, block)] == expected

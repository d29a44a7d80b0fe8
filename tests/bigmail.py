"""Messages of any size written to disk a block at a time, appended to an IMAP server straight from the
file, and the peak memory of a hub command run in a subprocess: what the tests of oversized mail need
without holding a copy of a large message in the test process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BLOCK = 1024 * 1024
# A line of base64, as a mail client wraps an attachment (76 characters and CRLF).
_LINE = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"


def big_message_header(sender: str, subject: str, message_id: str) -> bytes:
    """The header (and MIME preamble up to the attachment's body) of a message built by `write_big_message`."""
    return (f"From: {sender}\r\nTo: casework@doe.example.gov\r\nSubject: {subject}\r\n"
            f"Date: Mon, 23 Nov 2026 14:00:00 +0000\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n").encode()


def write_big_message(path: Path, size: int, sender: str = "Pat Example <pat@example.com>",
                      subject: str = "Scans of every page of my file", message_id: str = "<big@example.com>") -> bytes:
    """Write a message of exactly `size` bytes (CRLF lines, one base64 attachment) to `path`, a block at a
    time; returns its header section, which is all the hub should keep of it when it is over the limit."""
    header = big_message_header(sender, subject, message_id)
    closing = b"--b0--\r\n"

    def opening(padding: int) -> bytes:
        return (header + b"--b0\r\nContent-Type: text/plain\r\n\r\nEvery page is attached." + b" " * padding
                + b"\r\n--b0\r\nContent-Type: application/pdf; name=\"file.pdf\"\r\n"
                b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"file.pdf\"\r\n\r\n")

    # Trailing spaces on the text line make the attachment a whole number of lines.
    start = opening((size - len(opening(0)) - len(closing)) % len(_LINE))
    lines = (size - len(start) - len(closing)) // len(_LINE)
    assert lines > 0, f"{size} bytes is too small for a message with an attachment"
    per_block = BLOCK // len(_LINE)
    with path.open("wb") as handle:
        handle.write(start)
        for first in range(0, lines, per_block):
            handle.write(_LINE * min(per_block, lines - first))
        handle.write(closing)
    assert path.stat().st_size == size
    return header


def append_file(host: str, port: int, user: str, password: str, path: Path, folder: str = "INBOX") -> None:
    """IMAP APPEND of the message in `path`, streamed from the file (RFC 3501 §6.3.11, a synchronising
    literal): imaplib and imapclient would want the whole message as one bytes object."""
    size = path.stat().st_size
    with socket.create_connection((host, port), timeout=120) as sock, sock.makefile("rb") as replies:
        def command(tag: str, text: str) -> None:
            sock.sendall(f"{tag} {text}\r\n".encode())
            _expect(replies, tag)

        _read_line(replies)  # the greeting
        command("a1", f'LOGIN "{user}" "{password}"')
        sock.sendall(f'a2 APPEND "{folder}" {{{size}}}\r\n'.encode())
        if not _read_line(replies).startswith(b"+"):
            raise AssertionError("the server refused the APPEND")
        with path.open("rb") as message:
            while block := message.read(BLOCK):
                sock.sendall(block)
        sock.sendall(b"\r\n")
        _expect(replies, "a2")
        command("a3", "LOGOUT")


def _read_line(replies: object) -> bytes:
    line = replies.readline()  # type: ignore[attr-defined]
    if not line:
        raise AssertionError("the IMAP server closed the connection")
    return bytes(line)


def _expect(replies: object, tag: str) -> None:
    while not (line := _read_line(replies)).startswith(tag.encode() + b" "):
        continue
    if not line.startswith(tag.encode() + b" OK"):
        raise AssertionError(f"IMAP {tag}: {line!r}")


# `python -m hub`, and at its exit the process's own VmHWM (its peak resident memory since exec) written
# to a file. ru_maxrss from wait4 would not do: it keeps the high-water mark of the test process that
# forked the child, and adds children the hub waited for.
_MEASURED_HUB = """
import atexit, os, re
def _peak():
    with open("/proc/self/status") as status, open(os.environ["HUB_PEAK_FILE"], "w") as out:
        out.write(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
atexit.register(_peak)
from hub.cli.main import main
raise SystemExit(main())
"""


@dataclass(frozen=True)
class Measured:
    """A finished hub command: its exit code, what it printed, and its peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    peak_bytes: int


def run_hub_measured(config: Path, *args: str, env: dict[str, str] | None = None, folder: Path) -> Measured:
    """`hub --config CONFIG ARGS…` in a subprocess, with the peak resident memory of the hub process
    itself (not of its parse worker, a process of its own that never gets an oversized
    message)."""
    peak = folder / "peak"
    completed = subprocess.run([sys.executable, "-c", _MEASURED_HUB, "--config", str(config), *args],
                               env={**os.environ, **(env or {}), "HUB_PEAK_FILE": str(peak)},
                               capture_output=True, text=True, timeout=600)
    return Measured(completed.returncode, completed.stdout, completed.stderr, int(peak.read_text()) * 1024)

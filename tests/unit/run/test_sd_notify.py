"""sd_notify(3) over a real AF_UNIX datagram socket, named by a path or in the abstract namespace."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.run.sd_notify import Notifier


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    folder = Path(tempfile.mkdtemp(prefix="hub-notify-", dir="/tmp"))  # a socket path must be short
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(folder / "notify"))
    sock.settimeout(5)
    try:
        yield sock, str(folder / "notify")
    finally:
        sock.close()
        (folder / "notify").unlink()
        folder.rmdir()


def test_fields_go_as_one_datagram_and_the_variables_leave_the_environment(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    environ = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid()), "HOME": "/"}
    notifier = Notifier(environ)
    assert environ == {"HOME": "/"}, "a child process must not speak for the daemon"
    assert notifier.watchdog == 4.0
    notifier.send("READY=1", "STATUS=hub running: inbox\nsecond line")
    assert sock.recv(4096) == b"READY=1\nSTATUS=hub running: inbox second line"


def test_an_abstract_socket_name_starts_with_an_at_sign() -> None:
    name = f"hub-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        Notifier({"NOTIFY_SOCKET": "@" + name}).send("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent_and_a_watchdog_for_another_process_is_ignored(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    quiet = Notifier({})
    assert quiet.watchdog is None
    quiet.send("READY=1")  # nothing to send to: no error
    other = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
    assert other.watchdog is None
    gone = Notifier({"NOTIFY_SOCKET": path + ".gone"})
    gone.send("READY=1")  # a socket that is not there costs a DEBUG line, nothing more

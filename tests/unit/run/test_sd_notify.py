"""sd_notify(3) over a real AF_UNIX datagram socket, named by a path or in the abstract namespace."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.run.sd_notify import REPEAT, Notifier, Watchdog


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


def test_a_lasting_problem_is_logged_once_a_while_though_its_status_line_changes_every_turn(
        listener: tuple[socket.socket, str], caplog: pytest.LogCaptureFixture) -> None:
    """The stale job's line says how long it has been stale, so it changes at every turn (half a watchdog
    period: seconds); systemd's STATUS follows it, the log says it when it starts, every REPEAT while it
    lasts, and when it ends."""
    sock, path = listener
    now = [0.0]
    watchdog = Watchdog(Notifier({"NOTIFY_SOCKET": path}), "hub running", clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="hub.run.sd_notify")

    sent = []
    for second in range(0, 1200, 2):  # twenty minutes of turns two seconds apart
        now[0] = float(second)
        watchdog.tell(f"job inbox: stale: no success for {second} seconds")
        sent.append(sock.recv(4096))
    assert sent[:2] == [b"STATUS=degraded: job inbox: stale: no success for 0 seconds",
                        b"STATUS=degraded: job inbox: stale: no success for 2 seconds"], "each turn"
    told = [record.getMessage() for record in caplog.records]
    assert [line.rsplit(" for ", 1)[1] for line in told] == ["0 seconds", f"{REPEAT:.0f} seconds"]

    watchdog.tell("")
    watchdog.tell("", "job inbox: failing for 3 seconds")
    watchdog.tell("", "job inbox: failing for 5 seconds")
    told = [record.getMessage() for record in caplog.records][2:]
    assert told == ["watchdog: the jobs run again; telling systemd all is well",
                    "watchdog: telling systemd all is well, as a restart would not mend it: "
                    "job inbox: failing for 3 seconds"]

"""systemd's end of the notify protocol (sd_notify(3)) for tests: a datagram socket in the abstract namespace
that keeps every datagram a process sends it, with the time it came."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Listener:
    """Every datagram, with the monotonic time it came; `address` is what $NOTIFY_SOCKET says."""

    sock: socket.socket
    address: str
    received: list[tuple[float, str]] = field(default_factory=list)

    def run(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode()))

    def fields(self, name: str) -> list[tuple[float, str]]:
        return [(at, text) for at, text in self.received if any(line.startswith(name) for line in text.split("\n"))]

    def pings_since(self, moment: float) -> int:
        return self.pings_between(moment, float("inf"))

    def pings_between(self, start: float, end: float) -> int:
        return sum(1 for at, text in self.received if start <= at < end and text.startswith("WATCHDOG=1"))


@contextmanager
def listening(label: str) -> Iterator[Listener]:
    name = f"hub-test-{label}-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    found = Listener(sock, "@" + name)
    thread = threading.Thread(target=found.run, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        thread.join(5)

"""SIGTERM and SIGINT as something the main thread waits for, for a command that serves until stopped.

The signal handler itself does nothing: Python runs handlers in the main thread between two bytecodes,
where taking a lock (setting an Event, stopping a server) can deadlock with the code it interrupted. The
signal's number is written to a socket instead (`signal.set_wakeup_fd`, as asyncio does), and `wait()`
reads it from there, at any moment and however busy the other threads are.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import time
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """While entered, SIGTERM and SIGINT are counted instead of ending the process (only in the main
    thread); on exit the previous handlers are back."""

    def __init__(self) -> None:
        self.received = 0
        self._reader, self._writer = socket.socketpair()
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def __enter__(self) -> StopSignals:
        for sock in (self._reader, self._writer):
            sock.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for number in STOP_SIGNALS:
            self._previous[number] = signal.signal(number, _ignore)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether a stop signal came within `timeout` seconds (None: wait for one)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([self._reader], [], [], remaining)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    arrived = sum(1 for number in self._reader.recv(64) if number in STOP_SIGNALS)
                    if arrived:
                        self.received += arrived
                        return True
            elif deadline is not None:
                return False


def _ignore(number: int, frame: FrameType | None) -> None:
    """The wakeup socket has the signal already."""

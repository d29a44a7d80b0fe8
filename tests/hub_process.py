"""`hub run`, the daemon (or another long-running command, such as `hub sms webhook`), in a subprocess, for
tests and benchmarks: start it, wait for its start line, stop it with a signal, read what it logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT = 60.0


class HubProcess:
    def __init__(self, config: Path | None, log: Path, env: dict[str, str] | None = None, verbose: bool = True,
                 command: Sequence[str] = ("run",)) -> None:
        self.log = log
        # Without `config`, the command names what it runs (`run --deployment FILE`).
        office = ["--config", str(config)] if config is not None else []
        command = [sys.executable, "-m", "hub", *(["-v"] if verbose else []), *office, *command]
        with open(log, "ab") as stderr:
            self.process = subprocess.Popen(command, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                                            stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_start(self, timeout: float = START_TIMEOUT) -> str:
        """The start line ("hub running: …"); AssertionError if the process ended or said nothing in time."""
        wait_until(lambda: bool(self.lines) or self.process.poll() is not None, timeout, "the start line")
        assert self.lines, f"hub exited {self.process.returncode} before starting:\n{self.stderr()}"
        return self.lines[0]

    def stop(self, timeout: float = 30.0, number: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """SIGTERM (or the signal `number`); the exit code and the seconds it took to exit."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(number)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def close(self) -> None:
        """Kill the daemon if it still runs, and close its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_hub(config: Path, log: Path, env: dict[str, str] | None = None,
                verbose: bool = True) -> Iterator[HubProcess]:
    """A started daemon (its start line read); killed on the way out if the test did not stop it."""
    hub = HubProcess(config, log, env, verbose)
    try:
        hub.wait_for_start()
        yield hub
    finally:
        hub.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)


def connections_to(pid: int, port: int) -> int:
    """How many TCP connections process `pid` has established to `port` (Linux: its sockets in /proc)."""
    sockets = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            sockets.add(target.removeprefix("socket:[").removesuffix("]"))
    established = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if inode in sockets and state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                established += 1
    return established

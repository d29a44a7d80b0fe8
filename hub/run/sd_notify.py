"""systemd's notify protocol (sd_notify(3)), for a `Type=notify` unit: READY=1 once the daemon runs,
STATUS= lines for `systemctl status`, WATCHDOG=1 pings, STOPPING=1 at a stop. Each is a datagram to the
AF_UNIX socket $NOTIFY_SOCKET names (a name starting with '@' is in the abstract namespace).

Outside systemd (no $NOTIFY_SOCKET) every call does nothing. The variables are taken out of the environment
when read, so that the processes the daemon starts (the parse worker) never speak for it: the unit's
NotifyAccess=main would drop what they sent anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, MutableMapping

log = logging.getLogger(__name__)
REPEAT = 600.0  # seconds between two log lines of a lasting problem whose line changes


class Notifier:
    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        name = environ.pop("NOTIFY_SOCKET", "")
        self.address = "\0" + name[1:] if name.startswith("@") else name
        usec, pid = environ.pop("WATCHDOG_USEC", ""), environ.pop("WATCHDOG_PID", "")
        # How often systemd wants a ping, in seconds; None: no watchdog (or one meant for another process).
        self.watchdog: float | None = None
        if self.address and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog = int(usec) / 1_000_000

    def send(self, *fields: str) -> None:
        """One datagram of `fields` (READY=1, STATUS=…); a failure is logged at DEBUG and forgotten: systemd
        not listening is no reason to stop the hub."""
        if not self.address:
            return
        text = "\n".join(field.replace("\n", " ") for field in fields)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(text.encode("utf-8"))
        except OSError as error:
            log.debug("systemd notification not sent: %s", error)


class Watchdog:
    """What a daemon tells systemd at each of its watchdog's turns: WATCHDOG=1 unless something `silences` it
    (systemd then restarts the process), with a STATUS line whenever what it says changes: the start line
    `line` again once all is well, "degraded: …" while a problem lasts. The log says a problem when it starts,
    again every REPEAT seconds while its line changes (a stale job's line says for how long), and its end."""

    def __init__(self, notifier: Notifier, line: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier, self.line, self.clock = notifier, line, clock
        self._silenced = ""  # the problems the pings last fell silent for
        self._degraded = ""  # the problems last reported while the pings went on
        self._logged_at = 0.0  # when a problem was last logged

    def tell(self, silenced: str, degraded: str = "") -> None:
        """`silenced`: the problems only a restart mends ("" when none); `degraded`: the problems to report
        while the pings go on (a restart would not mend them)."""
        if silenced:
            if silenced != self._silenced:
                if self._worth_a_line(self._silenced):
                    log.warning("watchdog: not telling systemd all is well, which restarts the hub: %s", silenced)
                self.send(f"STATUS=degraded: {silenced}")
        else:
            if self._silenced:
                log.warning("watchdog: the jobs run again; telling systemd all is well")
            if degraded and degraded != self._degraded and self._worth_a_line(self._degraded):
                log.warning("watchdog: telling systemd all is well, as a restart would not mend it: %s", degraded)
            changed = bool(self._silenced) or degraded != self._degraded
            self.send("WATCHDOG=1", *([f"STATUS=degraded: {degraded}" if degraded else f"STATUS={self.line}"]
                                      if changed else []))
        self._silenced, self._degraded = silenced, "" if silenced else degraded

    def _worth_a_line(self, before: str) -> bool:
        """Whether a changed problem is logged: always when there was none `before`, else every REPEAT."""
        now = self.clock()
        if before and now - self._logged_at < REPEAT:
            return False
        self._logged_at = now
        return True

    def send(self, *fields: str) -> None:
        self.notifier.send(*fields)

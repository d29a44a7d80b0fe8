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
from collections.abc import MutableMapping

log = logging.getLogger(__name__)


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

"""An ASGI app served by uvicorn inside an asyncio loop someone else owns (`hub run`'s, or `hub web`'s),
stopped by that owner: uvicorn's own signal handling is left out, so that a SIGTERM is the daemon's alone.

The socket is bound and listening at construction, so a busy port is a one-line error before anything starts and the
port is known (port 0 picks a free one). A stop takes no more connections at once, closes idle ones, and
gives the requests under way (with the work they do after their answer) `grace` seconds; what still runs
after it, or after `hurry`, is cancelled and counted in one warning line. Nothing is lost that way: a
text is stored in one transaction, and what a cancelled request left is done again by the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from hub.core.errors import UserError

log = logging.getLogger(__name__)
# How long a stop waits for the requests under way: short enough that a service manager's stop (and the
# hub's promise of an exit within 5 s) is kept, long enough for a text and a photo or two.
STOP_GRACE_SECONDS = 3.0
BACKLOG = 2048  # uvicorn's own
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this long (nginx reuses them)
CUT_SECONDS = 0.5  # after the grace: for the cancelled requests to answer 500, then for the cut connections


class _OwnedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: the process that hosts it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class WebServer:
    def __init__(self, app: ASGIApp, address: tuple[str, int], grace: float = STOP_GRACE_SECONDS) -> None:
        host, port = address
        self.grace = grace
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
            self._socket.listen(BACKLOG)  # connections wait in the queue until the loop serves them
        except OSError as error:
            self._socket.close()
            raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False, lifespan="off",
                                timeout_keep_alive=KEEP_ALIVE_SECONDS)
        self._server = _OwnedServer(config)
        logging.getLogger("uvicorn").setLevel(logging.WARNING)  # no lines for starting and stopping
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if not any(isinstance(found, _NoCancelNotices) for found in uvicorn_errors.filters):
            uvicorn_errors.addFilter(_NoCancelNotices())

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def requests_under_way(self) -> int:
        return len(self._server.server_state.tasks)

    async def serve(self, stop: asyncio.Event, hurry: asyncio.Event) -> bool:
        """Serve until `stop` is set, then stop as the module says; whether requests were left unfinished."""
        serving = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        await _first(serving, stop.wait())
        self._server.should_exit = True
        await _first(serving, hurry.wait(), timeout=self.grace)
        if serving.done():
            serving.result()
            return False
        left = self.requests_under_way
        log.warning("stopping now: %d request%s still under way cut short (what they left undone is done at the "
                    "next run, or Twilio sends it again)", left, "" if left == 1 else "s")
        self._server.force_exit = True
        for task in list(self._server.server_state.tasks):
            task.cancel()  # uvicorn answers 500 where it can (Twilio tries again later)
        await _first(serving, timeout=CUT_SECONDS)
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        await _first(serving, timeout=CUT_SECONDS)
        return True


class _NoCancelNotices(logging.Filter):
    """uvicorn logs a request cancelled at the stop as an exception with its traceback; the stop's own
    warning has said so already."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


async def _first(serving: asyncio.Task[None], *others: object, timeout: float | None = None) -> None:
    """Wait until `serving` ends, one of `others` (awaitables) ends, or `timeout` passes."""
    waiters = [asyncio.ensure_future(other) for other in others]  # type: ignore[call-overload]
    try:
        await asyncio.wait([serving, *waiters], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

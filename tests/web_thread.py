"""The hub's web server (hub.run.web_server, real uvicorn on a real loopback socket) in a thread of the test
process with its own asyncio loop, for tests that call into the hub between requests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp

from hub.run.web_server import STOP_GRACE_SECONDS, WebServer

Serve = Callable[[WebServer, asyncio.Event, asyncio.Event], Awaitable[bool]]


def _serve(server: WebServer, stop: asyncio.Event, hurry: asyncio.Event) -> Awaitable[bool]:
    return server.serve(stop, hurry)


class ServedApp:
    """`app` served on a free loopback port from construction until `stop()`; `serve` says how (by default
    the server alone; hub.run.web.host adds the photo sweep)."""

    def __init__(self, app: ASGIApp, grace: float = STOP_GRACE_SECONDS, serve: Serve = _serve) -> None:
        self.server = WebServer(app, ("127.0.0.1", 0), grace)
        self.port = self.server.port
        self.left: list[bool] = []  # what serve() returned, once it has
        self._loop = asyncio.new_event_loop()
        self._stop, self._hurry = asyncio.Event(), asyncio.Event()
        started = threading.Event()

        def run() -> None:
            async def main() -> None:
                started.set()
                self.left.append(await serve(self.server, self._stop, self._hurry))
            self._loop.run_until_complete(main())
            self._loop.close()
        self._thread = threading.Thread(target=run, name="web-app", daemon=True)
        self._thread.start()
        assert started.wait(10)

    def stop_accepting(self) -> None:
        """The stop begins; `wait()` for it to end."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)

    def wait(self, timeout: float = 30) -> bool:
        """Whether the stop left requests unanswered."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the web server did not stop"
        return self.left[0]

    def stop(self) -> bool:
        self.stop_accepting()
        return self.wait()

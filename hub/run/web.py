"""The hub's web app and its hosting: Twilio's webhook, /healthz, /readyz and /metrics on one port.

`hub run` hosts it in the daemon's own asyncio loop when [web] is configured; `hub web` (and its older
name `hub sms webhook`) serves it alone. The app lives here, above the sources, because it wires several
of them to the hub: the webhook is hub.sources' adapter, the health answers ask the database, and other
endpoints (/metrics) join them here.

- `/healthz`: the process is up (200).
- `/readyz`: the database answers a trivial query within READY_SECONDS (200), or not (503): a load balancer
  or service manager stops sending requests to a hub that could not store them.
- `/metrics`: Prometheus' scrape (hub.run.metrics): the database's figures at each scrape and this
  process's counts, so the daemon's when `hub run` hosts the app.
- the Twilio webhook, at the path of `[sms] webhook_url`, when that is set.
- `/release/TOKEN`: the page where a constituent signs their privacy release by the link of the
  privacy-release-request letter (hub.run.release_page), when `[web] public_url` is set.

While it is hosted, the photos of texts the webhook stored but whose download a crash or an outage cut
short are fetched: at the start and every few minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hub.core.app import Hub
from hub.core.config import Config
from hub.core.config_values import Web
from hub.core.db import answers
from hub.core.errors import TemporaryError
from hub.letters.release_link import link_base
from hub.run.lease_keeper import LeaseKeeper
from hub.run.metrics import exposition
from hub.run.release_page import release_routes
from hub.run.web_server import WebServer
from hub.sources.backoff import one_line
from hub.sources.sms_media import fetch_pending_media
from hub.sources.sms_webhook import twilio_webhook

log = logging.getLogger(__name__)
MEDIA_SWEEP_SECONDS = 300.0
SWEEP_STOP_SECONDS = 1.0  # how long a stop waits for a photo being fetched by the sweep
READY_SECONDS = 5.0  # how long /readyz waits for the database before it answers 503


def web_app(hub: Hub, inbox: LeaseKeeper | None = None) -> Starlette:
    """`inbox`: the daemon's keeper of the inbox's lease, for /metrics."""
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        # A server that accepts and never answers would hold the request as long as the driver waits.
        with contextlib.suppress(TimeoutError):
            if await asyncio.wait_for(run_in_threadpool(answers, hub.engine), READY_SECONDS):
                return PlainTextResponse("ready\n")
        return PlainTextResponse("the database does not answer\n", 503)

    async def metrics(request: Request) -> Response:
        body, content_type = await run_in_threadpool(exposition, hub, request.headers.get("accept", ""), inbox)
        return Response(body, media_type=content_type)

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"]),
                               Route("/metrics", metrics, methods=["GET"])]
    if hub.config.sms is not None and hub.config.sms.webhook_url:
        routes.append(twilio_webhook(hub).route())
    if link_base(hub.config):
        routes += release_routes(hub)
    return Starlette(routes=routes)


def web_server(hub: Hub, inbox: LeaseKeeper | None = None) -> WebServer:
    """The app on its configured address, bound (a busy port is a UserError here), not yet serving."""
    return WebServer(web_app(hub, inbox), listen_address(hub.config))


def listen_address(config: Config) -> tuple[str, int]:
    """[web] listen; the deprecated [sms] webhook_listen when there is no [web] table (with a warning)."""
    old = config.sms.webhook_listen if config.sms is not None else ""
    if old:
        log.warning("[sms] webhook_listen is deprecated%s: write [web] listen = %r instead",
                    " and ignored since [web] is set" if config.web else "", old)
    if config.web is None and old:
        return Web(old).address
    return (config.web or Web()).address


def describe(hub: Hub, server: WebServer) -> str:
    sms = hub.config.sms
    webhook = f"Twilio's webhook {sms.webhook_url}, " if sms is not None and sms.webhook_url else ""
    page = f"the release page {link_base(hub.config)}/release/…, " if link_base(hub.config) else ""
    return f"{server.address} for {webhook}{page}/healthz and /readyz"


async def host(hub: Hub, server: WebServer, stop: asyncio.Event, hurry: asyncio.Event) -> bool:
    """Serve, and fetch the photos left to fetch, until `stop`; whether work was left unfinished (the caller
    then exits without waiting for its threads)."""
    sweeping = asyncio.create_task(_sweep_media(hub, stop))
    left = await server.serve(stop, hurry)
    await asyncio.wait([sweeping], timeout=SWEEP_STOP_SECONDS)
    if sweeping.done():
        return left
    sweeping.cancel()  # a download still runs in its thread: the next run fetches that photo again
    return True


async def _sweep_media(hub: Hub, stop: asyncio.Event) -> None:
    if hub.config.sms is None or not hub.config.sms.webhook_url:
        return
    while not stop.is_set():
        try:
            await anyio.to_thread.run_sync(fetch_pending_media, hub, "", stop.is_set, abandon_on_cancel=True)
        except TemporaryError as error:
            log.warning("photos of texts still to fetch: %s; tried again in %.0f s", one_line(error),
                        MEDIA_SWEEP_SECONDS)
        except Exception:
            log.exception("fetching the photos of texts failed; tried again in %.0f s", MEDIA_SWEEP_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), MEDIA_SWEEP_SECONDS)


def serve_web(hub: Hub, announce: Callable[[str], None]) -> bool:
    """`hub web`: serve until SIGTERM or SIGINT (a second one stops waiting for the requests under way).
    Returns True when work was left unfinished at the stop."""
    server = web_server(hub)

    async def serving() -> bool:
        loop = asyncio.get_running_loop()
        stop, hurry = asyncio.Event(), asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                hurry.set()
                return
            log.info("stopping: the requests under way finish first")
            stop.set()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, on_signal)
        try:
            announce(f"listening on {describe(hub, server)} (Ctrl-C or SIGTERM stops)")
            left = await host(hub, server, stop, hurry)
        finally:
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(number)
        log.info("stopped")
        return left
    return asyncio.run(serving())

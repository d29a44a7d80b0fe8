"""Twilio's incoming-message webhook: the HTTP endpoint Twilio POSTs each text to.

Twilio signs every webhook request: ``X-Twilio-Signature`` is an HMAC-SHA1, keyed with the account's auth
token, over the URL Twilio requested followed by the form parameters. A request without a valid signature
is answered 403 and reported through ``refused``; it never reaches the hub.

The signed URL is the one configured at Twilio, so the server checks signatures against
``WebhookSettings.public_url`` (with the request's own query string), never against the Host header or
the address it listens on. The hub usually sits behind a TLS-terminating proxy, where scheme, host and
port differ from what Twilio signed, and a Host header says whatever the sender likes. A wrong
``public_url`` therefore shows as every text refused with "bad X-Twilio-Signature".

A validly signed request is then shown to ``check(params)``, which may still refuse it (403, through
``refused`` too): a signature alone can be re-spliced (see hub.sources.twilio_text_fields). A request
that passes goes to ``receive(params)`` and is answered with empty TwiML: the hub answers texts through
its outbox, never in the webhook response. A ``TemporaryError`` from ``receive`` becomes 503 (the hub's
poller picks the text up later), anything else 500. Logs name a text by its MessageSid only, never by its
body or phone numbers.

``stop()`` takes no more connections at once and gives the requests under way (every accepted
connection, from its first byte to its answer) a grace period to finish with their answer; what still
runs after it is left to end with the process. Nothing is lost: a text is stored in one transaction, and
one left half-done is found by the poller.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

from hub.core.errors import ConfigError, TemporaryError

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM_TYPE = "application/x-www-form-urlencoded"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# A body we do not want is still read (and dropped) up to this size before answering: closing a socket
# with unread data makes the kernel send a reset, and the sender would see that instead of our answer.
DRAIN_LIMIT = 1024 * 1024
POLL_SECONDS = 0.1  # stop() waits up to this long for the serving loop to notice
REQUEST_TIMEOUT = 30.0  # seconds a client may take over its request before its thread gives up
# How long a stop waits for the requests under way: short enough that a service manager's stop (and
# the hub's promise of an exit within 5 s) is kept, long enough for a text with a photo or two.
STOP_GRACE_SECONDS = 3.0
QUERY_STRING = re.compile(r"\?\S*")


@dataclass(frozen=True)
class WebhookSettings:
    listen: tuple[str, int]  # host, port (port 0: a free one)
    public_url: str  # the URL configured at Twilio, exactly; signatures are computed over it
    auth_token: str
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"public_url must be the full http(s) URL configured at Twilio, not {self.public_url!r}")
        if not self.auth_token:
            # An empty key would make signatures anyone can compute.
            raise ConfigError("the Twilio auth_token is empty")


class FormParams(dict[str, list[str]]):
    """Every value of each form field, in order; RequestValidator reads repeated fields through `getlist`."""

    def getlist(self, name: str) -> list[str]:
        return self[name]

    def first_values(self) -> dict[str, str]:
        return {name: values[0] for name, values in self.items()}


def parse_form(body: bytes) -> FormParams:
    """The fields of an application/x-www-form-urlencoded body; ValueError when it is not UTF-8 text."""
    params = FormParams()
    # Blank values are kept: Twilio sends and signs empty fields (FromCity=, ...).
    for name, value in parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict"):
        params.setdefault(name, []).append(value)
    return params


class WebhookServer:
    """The webhook on `settings.listen`, bound at construction so that `port` is known before `start()`.

    `check(params)` says why a validly signed request is refused all the same (None: it is not);
    `check`, `receive` and `refused(remote_address, reason)` run in the request's own thread, several at
    once.
    """

    def __init__(self, settings: WebhookSettings, receive: Callable[[dict[str, str]], None],
                 refused: Callable[[str, str], None], check: Callable[[FormParams], str | None]) -> None:
        self.settings = settings
        self.receive = receive
        self.refused = refused
        self.check = check
        self.validator = RequestValidator(settings.auth_token)
        self.path = urlsplit(settings.public_url).path or "/"
        self._signed_base = settings.public_url.partition("#")[0].partition("?")[0]
        self._httpd = _HttpServer(settings.listen, functools.partial(_Handler, webhook=self))
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def signed_url(self, query: str | None) -> str:
        """The URL Twilio signed for a request with this raw query string (None: the request had no '?')."""
        return self._signed_base if query is None else f"{self._signed_base}?{query}"

    def start(self) -> None:
        """Serve in a background thread until `stop()`."""
        if self._thread is not None or self._stopped:
            raise RuntimeError("a WebhookServer serves once")
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(POLL_SECONDS,),
                                        name="twilio-webhook", daemon=True)
        self._thread.start()

    def stop_accepting(self) -> None:
        """Take no more connections and close the socket; the requests under way go on in their threads."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            # shutdown() waits for the serving loop to end: only when one runs, in its own thread.
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the requests under way to finish; whether none is left."""
        return self._httpd.wait_idle(timeout)

    @property
    def requests_under_way(self) -> int:
        return self._httpd.under_way

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """`stop_accepting()`, then up to `grace` seconds for the requests under way; whether all finished."""
        self.stop_accepting()
        return self.wait_idle(grace)


class _HttpServer(ThreadingHTTPServer):
    """One daemon thread per connection (a stuck client must not keep the process alive), counted so that
    a stop can wait for them."""

    def __init__(self, address: tuple[str, int], handler: Callable[..., BaseHTTPRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.under_way = 0
        self._finished = threading.Condition()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Counted here, in the serving loop, before the thread starts: once the loop has ended the
        # count cannot grow.
        with self._finished:
            self.under_way += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._one_finished()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._one_finished()

    def _one_finished(self) -> None:
        with self._finished:
            self.under_way -= 1
            self._finished.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._finished:
            return self._finished.wait_for(lambda: self.under_way == 0, timeout)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a DNS query that can stall start-up; unused here.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server_version = "casework-hub"
    sys_version = ""
    timeout = REQUEST_TIMEOUT

    def __init__(self, *args: Any, webhook: WebhookServer, **kwargs: Any) -> None:
        self.webhook = webhook
        super().__init__(*args, **kwargs)  # handles the request

    def do_POST(self) -> None:
        path, has_query, query = self.path.partition("?")
        if path != self.webhook.path:
            self._discard_body()
            self._answer(HTTPStatus.NOT_FOUND)
            return
        body = self._read_body()
        if body is None:
            return
        if self.headers.get_content_type() != FORM_TYPE:
            self._answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"expected {FORM_TYPE}\n")
            return
        try:
            params = parse_form(body)
        except ValueError:
            self._answer(HTTPStatus.BAD_REQUEST, "the form is not UTF-8\n")
            return
        signature = self.headers.get(SIGNATURE_HEADER)
        if not signature:
            self._refuse(HTTPStatus.FORBIDDEN, f"no {SIGNATURE_HEADER}")
            return
        url = self.webhook.signed_url(query if has_query else None)
        if not self.webhook.validator.validate(url, params, signature):
            self._refuse(HTTPStatus.FORBIDDEN, f"bad {SIGNATURE_HEADER}")
            return
        problem = self.webhook.check(params)
        if problem is not None:
            self._refuse(HTTPStatus.FORBIDDEN, problem)
            return
        self._deliver(params.first_values())

    def _not_post(self) -> None:
        self._discard_body()
        if self.path.partition("?")[0] != self.webhook.path:
            self._answer(HTTPStatus.NOT_FOUND)
        else:
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, headers={"Allow": "POST"})

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_post

    def _deliver(self, params: dict[str, str]) -> None:
        sid = params.get("MessageSid", "(no MessageSid)")
        try:
            self.webhook.receive(params)
        except TemporaryError as error:
            log.warning("text %s not taken for now, left to the poller: %s", sid, error)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE)
            return
        except Exception:
            log.exception("text %s: receiving it failed", sid)
            self._answer(HTTPStatus.INTERNAL_SERVER_ERROR)
            return
        log.info("text %s received", sid)
        self._answer(HTTPStatus.OK, EMPTY_TWIML, content_type="text/xml")

    def _content_length(self) -> int | None:
        """The declared body length; None, after answering, when it is missing or not a number."""
        declared = self.headers.get("Content-Length")
        if declared is None:
            self._answer(HTTPStatus.LENGTH_REQUIRED)
            return None
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            self._answer(HTTPStatus.BAD_REQUEST, "bad Content-Length\n")
            return None
        return length

    def _read_body(self) -> bytes | None:
        """The request body; None, after answering, when there is none to read or it is too big."""
        length = self._content_length()
        if length is None:
            return None
        limit = self.webhook.settings.max_body_bytes
        if length > limit:
            self._drop(length)
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes, over the limit of {limit}")
            return None
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        declared = self.headers.get("Content-Length", "")
        if declared.isdigit():
            self._drop(int(declared))

    def _drop(self, length: int) -> None:
        remaining = min(length, DRAIN_LIMIT)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 64 * 1024))
            if not chunk:
                break
            remaining -= len(chunk)
        self.close_connection = True

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        try:
            self.webhook.refused(self.client_address[0], reason)
        except Exception:
            log.exception("the refused() callback failed")
        self._answer(status, reason + "\n")

    def _answer(self, status: HTTPStatus, body: bytes | str = b"", content_type: str = "text/plain; charset=utf-8",
                headers: dict[str, str] | None = None) -> None:
        content = body.encode() if isinstance(body, str) else body
        if not content:
            content = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        # The access log is for debugging the connection, not a record of texts: no query strings.
        log.debug("%s %s", self.address_string(), QUERY_STRING.sub("?…", format % args))

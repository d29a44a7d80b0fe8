"""Twilio's incoming-message webhook: the endpoint Twilio POSTs each text to, as a Starlette route.

Twilio signs every webhook request: ``X-Twilio-Signature`` is an HMAC-SHA1, keyed with the account's auth
token, over the URL Twilio requested followed by the form parameters. A request without a valid signature
is answered 403 and reported through ``refused``; it never reaches the hub.

The signed URL is the one configured at Twilio, so the endpoint checks signatures against
``WebhookSettings.public_url`` (with the request's own query string), never against the Host header or
the address it listens on. The hub usually sits behind a TLS-terminating proxy, where scheme, host and
port differ from what Twilio signed, and a Host header says whatever the sender likes. A wrong
``public_url`` therefore shows as every text refused with "bad X-Twilio-Signature".

A validly signed request is then shown to ``check(params)``, which may still refuse it (403, through
``refused`` too): a signature alone can be re-spliced (see hub.sources.twilio_text_fields). A request
that passes goes to ``receive(params)`` and is answered with empty TwiML: the hub answers texts through
its outbox, never in the webhook response. What ``receive`` returns (slow work such as downloading a
photo) runs after the answer has gone. A ``TemporaryError`` from ``receive`` becomes 503 (the hub's poller
picks the text up later), anything else 500. Logs name a text by its MessageSid only, never by its body
or phone numbers.

Only reading the body happens on the event loop; parsing, the signature, ``check``, ``receive`` and
``refused`` (database writes) run in the thread pool, several at once, so that a slow database holds up
no other request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from hub.core.errors import ConfigError, TemporaryError

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM_TYPE = "application/x-www-form-urlencoded"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# A body we do not want is still read (and dropped) up to this size before answering: closing a socket
# with unread data makes the kernel send a reset, and the sender would see that instead of our answer.
DRAIN_LIMIT = 1024 * 1024

Afterwards = Callable[[], object]  # work left for after the answer
Receive = Callable[[dict[str, str]], Afterwards | None]


@dataclass(frozen=True)
class WebhookSettings:
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

    @property
    def path(self) -> str:
        return urlsplit(self.public_url).path or "/"


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


def plain(status: int, text: str = "", headers: dict[str, str] | None = None) -> Response:
    return Response(text or f"{status} {HTTPStatus(status).phrase}\n", status, headers, media_type="text/plain")


class TwilioWebhook:
    """The webhook's route. `check(params)` says why a validly signed request is refused all the same (None:
    it is not); `refused(remote_address, reason)` is told of every refusal."""

    def __init__(self, settings: WebhookSettings, receive: Receive, refused: Callable[[str, str], None],
                 check: Callable[[FormParams], str | None]) -> None:
        self.settings = settings
        self.receive = receive
        self.refused = refused
        self.check = check
        self.validator = RequestValidator(settings.auth_token)
        self._signed_base = settings.public_url.partition("#")[0].partition("?")[0]

    def route(self) -> Route:
        return Route(self.settings.path, self.endpoint, methods=["POST"], name="twilio-webhook")

    def signed_url(self, query: str) -> str:
        """The URL Twilio signed for a request with this raw query string."""
        return f"{self._signed_base}?{query}" if query else self._signed_base

    async def endpoint(self, request: Request) -> Response:
        remote = request.client.host if request.client else "?"
        answer = await self._answer(request, remote)
        # The access line is for debugging the connection, not a record of texts: no query string.
        log.debug("%s POST %s %d", remote, request.url.path, answer.status_code)
        return answer

    async def _answer(self, request: Request, remote: str) -> Response:
        declared = request.headers.get("content-length")
        if declared is None:
            return plain(411)
        if not declared.isdigit():
            return plain(400, "bad Content-Length\n")
        limit = self.settings.max_body_bytes
        if int(declared) > limit:
            await _drain(request)
            return await run_in_threadpool(self._refuse, remote, 413,
                                           f"body of {declared} bytes, over the limit of {limit}")
        body = await request.body()
        if request.headers.get("content-type", "").partition(";")[0].strip().lower() != FORM_TYPE:
            return plain(415, f"expected {FORM_TYPE}\n")
        query = request.scope.get("query_string", b"").decode("latin-1")
        return await run_in_threadpool(self._take, body, query, request.headers.get(SIGNATURE_HEADER), remote)

    def _take(self, body: bytes, query: str, signature: str | None, remote: str) -> Response:
        """In a worker thread: the form checked and, when it passes, received."""
        try:
            params = parse_form(body)
        except ValueError:
            return plain(400, "the form is not UTF-8\n")
        if not signature:
            return self._refuse(remote, 403, f"no {SIGNATURE_HEADER}")
        if not self.validator.validate(self.signed_url(query), params, signature):
            return self._refuse(remote, 403, f"bad {SIGNATURE_HEADER}")
        problem = self.check(params)
        if problem is not None:
            return self._refuse(remote, 403, problem)
        return self._deliver(params.first_values())

    def _deliver(self, params: dict[str, str]) -> Response:
        sid = params.get("MessageSid", "(no MessageSid)")
        try:
            afterwards = self.receive(params)
        except TemporaryError as error:
            log.warning("text %s not taken for now, left to the poller: %s", sid, error)
            return plain(503)
        except Exception:
            log.exception("text %s: receiving it failed", sid)
            return plain(500)
        log.info("text %s received", sid)
        later = BackgroundTask(_quietly, afterwards, sid) if afterwards is not None else None
        return Response(EMPTY_TWIML, 200, {"Content-Type": "text/xml"}, background=later)

    def _refuse(self, remote: str, status: int, reason: str) -> Response:
        try:
            self.refused(remote, reason)
        except Exception:
            log.exception("the refused() callback failed")
        return plain(status, reason + "\n", {"Connection": "close"} if status == 413 else None)


async def _drain(request: Request) -> None:
    read = 0
    async for chunk in request.stream():
        read += len(chunk)
        if read >= DRAIN_LIMIT:
            break


def _quietly(afterwards: Afterwards, sid: str) -> None:
    """The work after the answer: a failure is logged, and what it left undone is done at the next run."""
    try:
        afterwards()
    except TemporaryError as error:
        log.warning("text %s: the work after answering is left for later: %s", sid, error)
    except Exception:
        log.exception("text %s: the work after answering failed; it is tried again later", sid)

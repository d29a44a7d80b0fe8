"""A fake Twilio REST API on a free loopback port: the parts of the Messages resource (API 2010-04-01) the
hub uses, for the test suite.

It keeps one account with one phone number, answers the real twilio client the way Twilio documents:
HTTP Basic auth with the account SID and auth token, Twilio's JSON fields and error shape, sending a
message (``POST …/Messages.json``), listing messages newest first with the To/From/DateSent filters
(by UTC day, as Twilio does) and paging by ``next_page_uri``, one message, its media list, media
instances, and the media content behind a 307 redirect to a storage path, as Twilio redirects to its
storage host. A test texts the office (`text_office`), reads what the hub sent (`sent`), and makes it fail
on purpose: the next requests refused (`fail_next`), a recipient who replied STOP (`carrier_opted_out`),
media downloads held until the test lets them go (`hold_media`), the server stopped and started again on
the same port.

Typical use in a test::

    with running_twilio() as fake:
        client = twilio_client(fake.account_sid, fake.auth_token, api_base=fake.api_base)
        sid = fake.text_office("+15555550123", "Any news on my passport?")
        ... the hub polls, replies ...
        assert [m["body"] for m in fake.sent("+15555550123")] == ["We got your message"]
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import http
import json
import math
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

HOST = "127.0.0.1"
API = "/2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fedcba9876543210" * 2
DEFAULT_NUMBER = "+15555550100"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_BODY = 1600
STOP_TIMEOUT = 10.0
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# The GSM 03.38 default alphabet; the extension table's characters take two septets each.
GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = "^{}\\[~]|€\f"
# Twilio's codes for refusals that are not about the request's content (fail_next): 20000 + status.
UNAUTHENTICATED = 20003


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment.astimezone(UTC))


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def segments(body: str) -> int:
    """How many SMS segments `body` takes: GSM-7 160, or 153 each when split; else UCS-2 70, or 67 each."""
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in body):
        length = sum(2 if char in GSM_EXTENSION else 1 for char in body)
        single, part = 160, 153
    else:
        length = len(body.encode("utf-16-le")) // 2  # UCS-2 code units: an emoji takes two
        single, part = 70, 67
    return 1 if length <= single else math.ceil(length / part)


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's JSON error shape."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class TwilioError(Exception):
    """Answer the request with Twilio's error shape (raised inside the request handling)."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class Media:
    sid: str
    content_type: str
    content: bytes
    date_created: datetime


@dataclass
class Message:
    """One message as the fake keeps it; `as_json` is how the API shows it."""

    sid: str
    seq: int  # order of creation: the last tie-break when listing
    direction: str
    from_: str
    to: str
    body: str
    status: str
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None
    media: list[Media] = field(default_factory=list)
    media_urls: list[str] = field(default_factory=list)  # outbound: what the sender asked Twilio to fetch
    form: dict[str, list[str]] = field(default_factory=dict)  # outbound: the POST as it came
    error_code: int | None = None
    error_message: str | None = None

    def as_json(self, account_sid: str) -> dict[str, Any]:
        uri = f"{API}/Accounts/{account_sid}/Messages/{self.sid}"
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": str(len(self.media) or len(self.media_urls)),
            "num_segments": str(segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


def media_json(account_sid: str, message: Message, media: Media) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "content_type": media.content_type,
        "date_created": _rfc2822(media.date_created),
        "date_updated": _rfc2822(media.date_created),
        "parent_sid": message.sid,
        "sid": media.sid,
        "uri": f"{API}/Accounts/{account_sid}/Messages/{message.sid}/Media/{media.sid}.json",
    }


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(payload).encode(), headers=headers or {})


def _page_size(query: dict[str, str]) -> int:
    try:
        size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid PageSize") from None
    if size < 1:
        raise TwilioError(400, 20001, "Invalid PageSize")
    return min(size, MAX_PAGE_SIZE)


def _page_number(query: dict[str, str]) -> int:
    try:
        number = int(query.get("Page", 0))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid Page") from None
    if number < 0:
        raise TwilioError(400, 20001, "Invalid Page")
    return number


def _day(query: dict[str, str], name: str) -> date | None:
    """The UTC day of a DateSent filter: Twilio reads only its YYYY-MM-DD part."""
    value = query.get(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise TwilioError(400, 20001, f"Invalid {name} value: {value}") from None


def paged(path: str, query: dict[str, str], rows: list[Any], key: str, sid_of: Callable[[Any], str],
          show: Callable[[Any], dict[str, Any]], filters: dict[str, str]) -> dict[str, Any]:
    """One page of `rows` (already in order) under `key`, with Twilio's paging fields.

    A PageToken ("PA" + the last SID of the page before, or "PB" + the first SID of the page after) reads
    on from that row, so rows added meanwhile shift nothing; without one, Page × PageSize is the offset."""
    size, number = _page_size(query), _page_number(query)
    token = query.get("PageToken", "")
    if token:
        sids = [sid_of(row) for row in rows]
        if token[:2] not in ("PA", "PB") or token[2:] not in sids:
            raise TwilioError(400, 20001, f"Invalid PageToken: {token}")
        anchor = sids.index(token[2:])
        start = anchor + 1 if token.startswith("PA") else max(0, anchor - size)
        stop = start + size if token.startswith("PA") else anchor
    else:
        start, stop = number * size, number * size + size
    page = rows[start:stop]

    def uri(page_number: int, page_token: str = "") -> str:
        params = {**filters, "PageSize": str(size), "Page": str(page_number)}
        if page_token:
            params["PageToken"] = page_token
        return f"{path}?{urlencode(params)}"

    first = number * size
    return {
        key: [show(row) for row in page],
        "end": first + max(len(page) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1, "PA" + sid_of(page[-1])) if page and stop < len(rows) else None,
        "page": number,
        "page_size": size,
        "previous_page_uri": uri(number - 1, "PB" + sid_of(page[0])) if page and number > 0 else None,
        "start": first,
        "uri": uri(number, token),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTwilio


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the twilio client's pooled session expects
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._opened(self.connection)

    def finish(self) -> None:
        self.server.fake._closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on the test's stderr

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.fake._answer(self.command, self.path, self.headers.get("Authorization", ""), body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _serve


class FakeTwilio:
    """One account and one phone number behind Twilio's REST API; ``stop()``/``start()`` keep the port and
    the messages. Every public method is safe to call from the test while the server answers the hub."""

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN,
                 number: str = DEFAULT_NUMBER) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.number = number
        self.port = 0  # chosen by the first start()
        # Outbound messages become "sent" (with date_sent) right after the API answered "queued"; with
        # False they stay "queued" until the test calls set_status.
        self.auto_send = True
        self.carrier_opted_out: set[str] = set()  # recipients who texted STOP: sending to them is 21610
        self._lock = threading.Lock()
        self._messages: dict[str, Message] = {}
        self._seq = 0
        self._failures: list[Reply] = []
        self._requests: list[tuple[str, str]] = []
        self._connections: set[socket.socket] = set()
        self._media_released = threading.Event()  # cleared: downloads of media content wait
        self._media_released.set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_base(self) -> str:
        return f"http://{HOST}:{self.port}"

    # --- the test's side --------------------------------------------------------------------------

    def text_office(self, from_: str, body: str, media: Sequence[tuple[str, bytes]] = (),
                    date_sent: datetime | None = None, to: str | None = None) -> str:
        """An inbound text (MMS with `media`, as (content type, bytes)) from `from_` to the office's number
        (or `to`), received at `date_sent` (aware; default now). Returns its SID."""
        if date_sent is not None and date_sent.tzinfo is None:
            raise ValueError("date_sent must carry a time zone")
        moment = (date_sent or _now()).astimezone(UTC)
        with self._lock:
            message = self._add(Message(
                sid=_sid("MM" if media else "SM"), seq=0, direction="inbound", from_=from_,
                to=to or self.number, body=body, status="received", date_created=moment,
                date_updated=moment, date_sent=moment,
                media=[Media(_sid("ME"), content_type, content, moment) for content_type, content in media]))
            return message.sid

    def sent(self, to: str | None = None) -> list[dict[str, Any]]:
        """The messages sent through the API (to `to`, or all), oldest first: each as the API shows it now,
        plus ``"request"``: the form it was created with (every field a list, e.g. ``["request"]["MediaUrl"]``)."""
        with self._lock:
            outbound = [m for m in self._messages.values()
                        if m.direction == "outbound-api" and (to is None or m.to == to)]
            return [{**m.as_json(self.account_sid), "request": {k: list(v) for k, v in m.form.items()}}
                    for m in sorted(outbound, key=lambda m: m.seq)]

    def set_status(self, sid: str, status: str, error_code: int | None = None,
                   error_message: str | None = None) -> None:
        """Move a message on (queued → sent → delivered, or failed/undelivered with an error code), as
        Twilio does once the carrier answers; date_sent is set when it leaves."""
        with self._lock:
            message = self._messages[sid]
            now = _now()
            message.status, message.date_updated = status, now
            message.error_code, message.error_message = error_code, error_message
            if message.date_sent is None and status in ("sent", "delivered", "undelivered", "failed"):
                message.date_sent = now

    def fail_next(self, status: int, times: int = 1, code: int | None = None, retry_after: int | None = None,
                  message: str | None = None) -> None:
        """Answer the next `times` API requests (not the storage) with `status` in Twilio's error shape;
        `code` defaults to Twilio's 20000 + status (20429 Too Many Requests, 20500, 20503, …)."""
        if code is None:
            code = UNAUTHENTICATED if status == 401 else 20000 + status
        text = message or http.HTTPStatus(status).phrase
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._failures.extend([Reply.json(status, error_body(status, code, text), headers)] * times)

    def hold_media(self) -> None:
        """Make downloads of media content wait (each up to STOP_TIMEOUT) until `release_media()`."""
        self._media_released.clear()

    def release_media(self) -> None:
        self._media_released.set()

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path with query) of every request so far, storage included, in order of arrival."""
        with self._lock:
            return list(self._requests)

    # --- life cycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """(Re)start listening (on the same port after the first time); returns once it accepts."""
        if self._server is not None:
            return
        server = _Server((HOST, self.port), _Handler)
        server.fake = self
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-twilio-{self.port}", daemon=True)
        self._thread.start()
        self._server = server

    def stop(self) -> None:
        """Stop listening and cut every open connection (idempotent); the messages stay."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:  # a pooled keep-alive connection must fail too, as in an outage
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join(STOP_TIMEOUT)

    # --- called by the handler, in the server's threads -------------------------------------------

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _add(self, message: Message) -> Message:
        """Keep `message` as the newest (the lock is held)."""
        self._seq += 1
        message.seq = self._seq
        self._messages[message.sid] = message
        return message

    def _answer(self, method: str, target: str, authorization: str, body: bytes) -> Reply:
        parts = urlsplit(target)
        with self._lock:
            self._requests.append((method, target))
            storage = re.fullmatch(r"/storage/(ME[0-9a-f]{32})", parts.path)
            if storage is None and self._failures:
                return self._failures.pop(0)
        try:
            if storage is not None:
                self._media_released.wait(STOP_TIMEOUT)
                return self._storage(storage.group(1))
            if not self._authenticated(authorization):
                raise TwilioError(401, UNAUTHENTICATED, "Authenticate",
                                  {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            query = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
            return self._route(method, parts.path, query, body)
        except TwilioError as error:
            return Reply.json(error.status, error_body(error.status, error.code, error.message), error.headers)

    def _authenticated(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True)
        except ValueError:
            return False
        expected = f"{self.account_sid}:{self.auth_token}".encode()
        return scheme.lower() == "basic" and hmac.compare_digest(given, expected)

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        messages = f"{API}/Accounts/{self.account_sid}/Messages"
        not_found = TwilioError(404, 20404, f"The requested resource {path} was not found")
        if path == f"{messages}.json":
            if method == "POST":
                return self._create(path, parse_qs(body.decode(), keep_blank_values=True))
            if method == "GET":
                return self._list(path, query)
            raise TwilioError(405, 20004, "Method not allowed")
        match = re.fullmatch(re.escape(messages) + r"/(\w+)(/Media(?:/(\w+))?)?(\.json)?", path)
        if match is None:
            raise not_found
        if method != "GET":
            raise TwilioError(405, 20004, "Method not allowed")
        sid, under_media, media_sid, dot_json = match.groups()
        with self._lock:
            message = self._messages.get(sid)
            if message is None:
                raise not_found
            if under_media is None:
                if dot_json is None:
                    raise not_found
                return Reply.json(200, message.as_json(self.account_sid))
            if media_sid is None:
                if dot_json is None:
                    raise not_found
                return Reply.json(200, paged(path, query, message.media, "media_list", lambda m: m.sid,
                                             lambda m: media_json(self.account_sid, message, m), {}))
            media = next((m for m in message.media if m.sid == media_sid), None)
            if media is None:
                raise not_found
            if dot_json is not None:
                return Reply.json(200, media_json(self.account_sid, message, media))
            # The content itself: Twilio answers with a redirect to its storage host.
            return Reply(307, content_type="text/plain", headers={"Location": f"{self.api_base}/storage/{media_sid}"})

    def _storage(self, media_sid: str) -> Reply:
        with self._lock:
            for message in self._messages.values():
                for media in message.media:
                    if media.sid == media_sid:
                        return Reply(200, media.content, media.content_type)
        return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")

    def _create(self, path: str, form: dict[str, list[str]]) -> Reply:
        to, from_ = form.get("To", [""])[-1], form.get("From", [""])[-1]
        body, media_urls = form.get("Body", [""])[-1], form.get("MediaUrl", [])
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not from_:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if not body and not media_urls:
            raise TwilioError(400, 21602, "Message body is required.")
        if not E164.fullmatch(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ != self.number:
            raise TwilioError(400, 21606, f"The From phone number {from_} is not a valid, SMS-capable inbound phone"
                                          " number or short code for your account.")
        if len(body) > MAX_BODY:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        with self._lock:
            if to in self.carrier_opted_out:
                raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
            now = _now()
            message = self._add(Message(
                sid=_sid("MM" if media_urls else "SM"), seq=0, direction="outbound-api", from_=from_, to=to,
                body=body, status="queued", date_created=now, date_updated=now, date_sent=None,
                media_urls=list(media_urls), form=form))
            created = message.as_json(self.account_sid)
            if self.auto_send:
                message.status, message.date_sent = "sent", now
        return Reply.json(201, created)

    def _list(self, path: str, query: dict[str, str]) -> Reply:
        on, after, before = _day(query, "DateSent"), _day(query, "DateSent>"), _day(query, "DateSent<")

        def wanted(message: Message) -> bool:
            if query.get("To") and message.to != query["To"]:
                return False
            if query.get("From") and message.from_ != query["From"]:
                return False
            if on is None and after is None and before is None:
                return True
            if message.date_sent is None:
                return False
            day = message.date_sent.date()
            return (on is None or day == on) and (after is None or day >= after) and (before is None or day <= before)

        filters: dict[str, str] = {name: query[name] for name in ("To", "From", "DateSent", "DateSent<", "DateSent>")
                                   if name in query}
        with self._lock:
            rows = sorted(filter(wanted, self._messages.values()), reverse=True,
                          key=lambda m: (m.date_sent or m.date_created, m.date_created, m.seq))
            return Reply.json(200, paged(path, query, rows, "messages", lambda m: m.sid,
                                         lambda m: m.as_json(self.account_sid), filters))


def start_twilio(account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN,
                 number: str = DEFAULT_NUMBER) -> FakeTwilio:
    """Start a fake Twilio on a free loopback port (see `FakeTwilio`); the caller stops it."""
    fake = FakeTwilio(account_sid, auth_token, number)
    fake.start()
    return fake


@contextlib.contextmanager
def running_twilio(account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN,
                   number: str = DEFAULT_NUMBER) -> Iterator[FakeTwilio]:
    """Start a fake Twilio, yield it, and always stop it."""
    fake = start_twilio(account_sid, auth_token, number)
    try:
        yield fake
    finally:
        fake.stop()


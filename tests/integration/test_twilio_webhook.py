"""The Twilio incoming-message webhook over real HTTP on loopback (the hub's uvicorn server): Twilio's
published signature vectors (accepted as signed, refused when altered, re-signed with another token or
unsigned), a realistic MMS signed by the twilio library, the answers for wrong paths, methods, types, sizes
and failing receivers, the work after the answer, and a stop that lets the requests under way finish
within its grace.

The published vectors are voice-call requests (CallSid, Digits), not texts: they go through the signature
layer alone (no `check`); the MMS goes through the strict checks of a text as well, which
tests/integration/test_sms_webhook.py tries rule by rule.

Each server's public_url is what Twilio would have signed (https://mycompany.com/...); the requests go to
the loopback address with that URL's path and query, as they would through a proxy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from hub.core.errors import ConfigError, TemporaryError
from hub.sources.twilio_text_fields import text_fields_problem
from hub.sources.twilio_webhook import EMPTY_TWIML, Afterwards, FormParams, TwilioWebhook, WebhookSettings
from tests.corpus import CORPUS, corpus_dir
from tests.web_thread import ServedApp

pytestmark = pytest.mark.integration

VECTORS = CORPUS / "twilio-signature" / "vectors.json"
LOOPBACK = "127.0.0.1"
FORM = "application/x-www-form-urlencoded"
TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://hub.example.org/twilio/sms?office=doe"
TARGET = "/twilio/sms?office=doe"
BODY = "Still no word from the passport office 😟 — can you chase? A&B=C"
SENDER = "+14155550123"
MESSAGE_SID = "MM5f1c2a3b4c5d6e7f8091a2b3c4d5e6f7"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
MMS = {  # what Twilio posts for an incoming MMS; the empty fields are sent (and signed) too
    "ToCountry": "US", "ToState": "CA", "SmsMessageSid": MESSAGE_SID, "NumMedia": "1", "ToCity": "",
    "FromZip": "", "SmsSid": MESSAGE_SID, "FromState": "CA", "SmsStatus": "received", "FromCity": "",
    "Body": BODY, "FromCountry": "US", "To": "+14155550100", "ToZip": "", "NumSegments": "1",
    "MessageSid": MESSAGE_SID, "AccountSid": ACCOUNT_SID, "From": SENDER,
    "ApiVersion": "2010-04-01", "MediaContentType0": "image/jpeg",
    "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/"
                 f"{MESSAGE_SID}/Media/ME0123456789abcdef0123456789abcdef",
}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes


@dataclass(frozen=True)
class Vector:
    kind: str
    url: str
    pairs: list[tuple[str, str]]  # the form fields in order, repeated ones repeated
    body: bytes
    signature: str
    token: str


@dataclass
class Hook:
    """A served webhook and what its callbacks were given."""

    server: ServedApp
    received: list[dict[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def post(self, target: str, body: bytes, signature: str | None, content_type: str = FORM) -> Reply:
        headers = {"Content-Type": content_type}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return request(self.server.port, target, body, headers)


def a_text_to_our_account(params: FormParams) -> str | None:
    return text_fields_problem(params, ACCOUNT_SID)


def signature_only(params: FormParams) -> str | None:
    return None


def served(webhook: TwilioWebhook, grace: float = 3.0) -> ServedApp:
    return ServedApp(Starlette(routes=[webhook.route()]), grace)


@contextmanager
def running(public_url: str = PUBLIC_URL, token: str = TOKEN, fail: BaseException | None = None,
            check: Callable[[FormParams], str | None] = a_text_to_our_account,
            afterwards: Afterwards | None = None, **options: Any) -> Iterator[Hook]:
    """A webhook on a free loopback port; `fail` is raised by receive() after it recorded the params;
    `afterwards` is what receive() leaves for after the answer."""
    received: list[dict[str, str]] = []

    def receive(params: dict[str, str]) -> Afterwards | None:
        received.append(params)
        if fail is not None:
            raise fail
        return afterwards

    refusals: list[tuple[str, str]] = []
    settings = WebhookSettings(public_url, token, **options)
    server = served(TwilioWebhook(settings, receive, lambda address, reason: refusals.append((address, reason)),
                                  check))
    try:
        yield Hook(server, received, refusals)
    finally:
        server.stop()


# No proxy from the environment, even for loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(port: int, target: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            method: str = "POST", timeout: float = 10) -> Reply:
    sent = urllib.request.Request(f"http://{LOOPBACK}:{port}{target}", data=body, headers=headers or {},
                                  method=method)
    try:
        with OPENER.open(sent, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        try:
            return Reply(error.code, error.headers, error.read())
        finally:
            error.close()


def sign(token: str, url: str, pairs: list[tuple[str, str]]) -> str:
    """Twilio's algorithm as the corpus describes it, written out independently of the twilio library."""
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


def target_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def form_vectors() -> list[Any]:
    if not VECTORS.is_file():
        reason = f"Twilio signature vectors not found at {VECTORS} (shared corpus not checked out)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    cases = []
    for kind in ("compute_signature", "validate"):
        for vector in data[kind]:
            if "raw_body" in vector:
                continue  # a JSON body: see test_json_body_vectors_against_the_validator
            pairs: list[tuple[str, str]]
            if "form_body" in vector:
                body = vector["form_body"]
                pairs = parse_qsl(body, keep_blank_values=True)
            else:
                pairs = [(name, value) for name, value in vector.get("params_multi") or vector["params"].items()]
                body = urlencode(pairs)
            name = (vector.get("test") or vector["derived_from"]).rpartition("::")[2]
            signature = vector.get("expected_signature") or vector["signature"]
            cases.append(pytest.param(
                Vector(kind, vector["url"], pairs, body.encode(), signature, data["auth_token"]),
                id=f"{kind}-{name}"))
    return cases


@pytest.mark.parametrize("vector", form_vectors())
def test_published_vector_accepted_and_tampering_refused(vector: Vector) -> None:
    if vector.kind == "compute_signature":  # the wrong-token signature below comes from sign(): check it first
        assert sign(vector.token, vector.url, vector.pairs) == vector.signature
    name, value = vector.pairs[0]
    altered = urlencode([(name, value + "1"), *vector.pairs[1:]]).encode()
    target = target_of(vector.url)
    assert "MessageSid" not in first_values(vector.pairs), "a text's vector would go through the strict checks"
    with running(vector.url, vector.token, check=signature_only) as hook:
        reply = hook.post(target, vector.body, vector.signature)
        assert (reply.status, reply.body) == (200, EMPTY_TWIML)
        assert hook.received == [first_values(vector.pairs)] and hook.refused == []

        tampered = {
            "one param altered": (altered, vector.signature),
            "wrong token": (vector.body, sign("not-" + vector.token, vector.url, vector.pairs)),
            "no signature": (vector.body, None),
        }
        for case, (body, signature) in tampered.items():
            assert hook.post(target, body, signature).status == 403, case
        assert len(hook.received) == 1
        assert hook.refused == [(LOOPBACK, "bad X-Twilio-Signature")] * 2 + [(LOOPBACK, "no X-Twilio-Signature")]


def test_json_body_vectors_against_the_validator() -> None:
    """Twilio signs a JSON body through a bodySHA256 query parameter; incoming-message webhooks are never
    JSON and the server answers JSON with 415 (test below), so these vectors cannot go through it: they
    check the RequestValidator it relies on, directly."""
    data = json.loads((corpus_dir("twilio-signature") / "vectors.json").read_text(encoding="utf-8"))
    validator = RequestValidator(data["auth_token"])
    for vector in data["compute_body_hash"]:
        assert validator.compute_hash(vector["body"]) == vector["expected_sha256_hex"]
    json_vectors = [vector for vector in data["validate"] if "raw_body" in vector]
    assert json_vectors
    for vector in json_vectors:
        url, body, signature = vector["url"], vector["raw_body"], vector["signature"]
        assert validator.validate(url, body, signature)
        assert not validator.validate(url, body.replace("true", "false"), signature)
        assert not RequestValidator("not-" + data["auth_token"]).validate(url, body, signature)


def test_library_signed_mms_is_received_whole() -> None:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS)
    with running() as hook:
        reply = hook.post(TARGET, urlencode(MMS).encode(), signature, f"{FORM}; charset=utf-8")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/xml"
    assert reply.body == EMPTY_TWIML
    assert hook.received == [MMS] and hook.refused == []


def test_signature_over_the_host_header_url_is_refused() -> None:
    with running() as hook:
        seen_by_the_server = f"http://{LOOPBACK}:{hook.server.port}{TARGET}"
        reply = hook.post(TARGET, urlencode(MMS).encode(), RequestValidator(TOKEN).compute_signature(
            seen_by_the_server, MMS))
    assert reply.status == 403 and b"bad X-Twilio-Signature" in reply.body
    assert hook.received == [] and hook.refused == [(LOOPBACK, "bad X-Twilio-Signature")]


def test_other_path_is_404_and_other_methods_405() -> None:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS)
    with running() as hook:
        assert hook.post("/twilio/other?office=doe", urlencode(MMS).encode(), signature).status == 404
        get = request(hook.server.port, TARGET, method="GET")
        assert request(hook.server.port, "/elsewhere", method="GET").status == 404
    assert get.status == 405 and get.headers["Allow"] == "POST"
    assert hook.received == [] and hook.refused == []


def test_json_body_is_415() -> None:
    body = json.dumps({"From": SENDER, "Body": BODY}).encode()
    with running() as hook:
        reply = hook.post(TARGET, body, "c2lnbmF0dXJl", content_type="application/json")
    assert reply.status == 415
    assert hook.received == [] and hook.refused == []


def test_huge_body_is_413_and_refused() -> None:
    huge = urlencode({**MMS, "Body": "x" * 512 * 1024}).encode()
    with running() as hook:
        reply = hook.post(TARGET, huge, RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS))
    assert reply.status == 413
    assert hook.received == []
    assert hook.refused == [(LOOPBACK, f"body of {len(huge)} bytes, over the limit of {64 * 1024}")]


def test_temporary_error_in_receive_is_503() -> None:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS)
    with running(fail=TemporaryError("database unavailable")) as hook:
        reply = hook.post(TARGET, urlencode(MMS).encode(), signature)
    assert reply.status == 503
    assert hook.received == [MMS] and hook.refused == []


def test_other_error_in_receive_is_500_logged_by_message_sid_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hub.sources.twilio_webhook")
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS)
    with running(fail=RuntimeError("secret internals")) as hook:
        reply = hook.post(TARGET, urlencode(MMS).encode(), signature)
    assert reply.status == 500 and b"secret" not in reply.body
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and MESSAGE_SID in errors[0].getMessage() and errors[0].exc_info is not None
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "passport" not in logged and SENDER not in logged and "office=doe" not in logged
    assert "POST /twilio/sms" in logged  # the access log, at DEBUG, without its query string


def test_the_answer_does_not_wait_for_the_work_after_it() -> None:
    """What receive() leaves for later runs after Twilio has its answer."""
    done = threading.Event()
    release = threading.Event()

    def slow_download() -> None:
        release.wait(30)
        done.set()

    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS)
    with running(afterwards=slow_download) as hook:
        started = time.monotonic()
        reply = hook.post(TARGET, urlencode(MMS).encode(), signature)
        assert (reply.status, reply.body) == (200, EMPTY_TWIML) and time.monotonic() - started < 2
        assert not done.is_set()
        release.set()
        assert done.wait(10)


def test_a_failure_after_the_answer_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise TemporaryError("media server unreachable")

    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS)
    with running(afterwards=broken) as hook:
        assert hook.post(TARGET, urlencode(MMS).encode(), signature).status == 200
        assert hook.post(TARGET, urlencode(MMS).encode(), signature).status == 200  # the server goes on
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings == [f"text {MESSAGE_SID}: the work after answering is left for later: media server "
                        "unreachable"] * 2


@contextmanager
def held_receive() -> Iterator[tuple[ServedApp, threading.Event, threading.Event, list[int]]]:
    """A started server whose receive() waits for `release` after setting `entered`, and a client thread
    that posts the MMS, its answer's status going into the list."""
    entered, release = threading.Event(), threading.Event()

    def receive(params: dict[str, str]) -> None:
        entered.set()
        release.wait(30)

    server = served(TwilioWebhook(WebhookSettings(PUBLIC_URL, TOKEN), receive, lambda address, reason: None,
                                  a_text_to_our_account), grace=30)
    statuses: list[int] = []
    headers = {"Content-Type": FORM, "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(PUBLIC_URL, MMS)}
    client = threading.Thread(target=lambda: statuses.append(
        request(server.port, TARGET, urlencode(MMS).encode(), headers, timeout=30).status))
    client.start()
    try:
        assert entered.wait(30)
        yield server, entered, release, statuses
    finally:
        release.set()
        client.join(30)
        server.stop_accepting()
        server.wait()


def refused_soon(port: int) -> bool:
    """Whether new connections are refused within a second (the server notices a stop within 0.1 s)."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOOPBACK, port), timeout=10).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.02)
    return False


def test_stop_lets_a_request_under_way_finish_with_its_answer() -> None:
    with held_receive() as (server, _, release, statuses):
        server.stop_accepting()
        assert refused_soon(server.port)
        assert server.server.requests_under_way == 1 and statuses == []
        release.set()
        assert server.wait() is False
        assert server.server.requests_under_way == 0
    assert statuses == [200]


def test_stop_gives_up_on_a_request_that_outlasts_the_grace(caplog: pytest.LogCaptureFixture) -> None:
    with held_receive() as (server, _, _, statuses):
        server.server.grace = 0.1
        started = time.monotonic()
        server.stop_accepting()
        assert server.wait() is True and time.monotonic() - started < 2
    assert statuses == [500]  # cancelled: Twilio tries again later
    assert "stopping now: 1 request still under way cut short" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize(("public_url", "token"), [("/twilio/sms", TOKEN), ("https://hub.example.org/sms", "")])
def test_settings_refuse_a_relative_url_or_an_empty_token(public_url: str, token: str) -> None:
    with pytest.raises(ConfigError):
        WebhookSettings(public_url, token)

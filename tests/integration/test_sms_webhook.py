"""Twilio's webhook in the hub's web app (`hub web`, and its older name `hub sms webhook`) against the local
Twilio-like server, on SQLite and PostgreSQL: the strict checks of a text's fields, photos fetched after the
answer, and stopping.

What these tests prove:

- A signed request re-spliced from a captured one (NumMedia dropped and its name and value appended to
  MessageSid, which keeps the signature valid) is refused with 403, one warning line and a
  "webhook-refused" event, and stores no second text. So is each request that breaks one rule of a
  genuine text: the MessageSid's shape, SmsSid or SmsMessageSid other than MessageSid, another account,
  NumMedia missing or not matching the MediaUrlN fields, a field given twice, no From or To.
- A text with a photo is stored and answered at once, while the media server holds the photo back; the
  photo lands on the case once the media server lets it go.
- The command, as a real process, exits 0 within 5 s of SIGTERM or SIGINT, without a traceback; a photo
  still downloading when the signal comes lands before the exit, and a text whose request body is still
  arriving is stored and answered before it; a client that never finishes its request does not hold the
  exit up (after the grace, or at a second signal), and the warning says a request was cut short. A photo
  the media server holds past the grace is left on the case as "to be fetched", and the next start
  fetches it. `hub sms webhook` with the deprecated [sms] webhook_listen still serves, with a warning.

Only the tests where the database takes part (a text stored or refused) run on both databases.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from hub.core.app import Hub
from hub.core.models import Attachment, Event, QuarantineItem
from tests.hub_process import HubProcess, wait_until
from tests.integration import test_sms_durability
from tests.integration.test_sms_durability import (
    FORM,
    OFFICE_NUMBER,
    PAT,
    PHOTO,
    PUBLIC_URL,
    TOKEN_ENV,
    count,
    inbound,
    outbox,
    photos,
    sms_office,
    webhook_form,
)
from tests.servers.twilio import FakeTwilio, running_twilio
from tests.web_thread import ServedApp

pytestmark = pytest.mark.integration
hooked = test_sms_durability.hooked  # the fixture: a hub with its webhook server on a free port

Pairs = list[tuple[str, str]]
STOP_LIMIT = 5.0  # seconds from the signal to the exit, at most
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
OTHER_SID = "SM" + "0123456789abcdef" * 2


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with running_twilio(number=OFFICE_NUMBER) as server:
        yield server


def signature_of(token: str, pairs: Pairs) -> str:
    # A field given twice with the same value is signed once (values are de-duplicated), so the
    # signature over the pairs is the signature over their dict.
    return RequestValidator(token).compute_signature(PUBLIC_URL, dict(pairs))


def post(port: int, pairs: Pairs, signature: str) -> int:
    """POST the form as Twilio would, with this X-Twilio-Signature; the HTTP status."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/twilio/sms", data=urlencode(pairs).encode(),
                                     headers={"Content-Type": FORM, "X-Twilio-Signature": signature}, method="POST")
    try:
        with OPENER.open(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            error.read()
            return error.code


def refusals(hub: Hub) -> list[Event]:
    with hub.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == "webhook-refused").order_by(Event.id)))


# --- the strict checks, in process ------------------------------------------------------------------


def assert_refused_quietly(caplog: pytest.LogCaptureFixture, hub: Hub, reason: str, *private: str) -> None:
    """One warning line and one event, both naming `reason`, neither carrying the `private` words."""
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings == [f"webhook request from 127.0.0.1 refused: {reason}"]
    (event,) = refusals(hub)
    assert event.detail == f"{reason} (from 127.0.0.1)" and event.actor == "127.0.0.1" and event.via == "sms"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for word in private:
        assert word not in logged and word not in event.detail


def test_a_resplice_of_a_captured_request_is_refused_and_stores_nothing_twice(
        hooked: tuple[Hub, ServedApp], twilio: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    hub, server = hooked
    body = "My check did not come this month"
    sid = twilio.text_office(PAT, body, date_sent=hub.clock.now())
    captured = list(webhook_form(twilio, sid, PAT, body).items())
    signature = signature_of(twilio.auth_token, captured)
    assert post(server.port, captured, signature) == 200
    (stored,) = inbound(hub)

    # MessageSid and NumMedia are neighbours in the signed string ("MessageSidSM…NumMedia0"): moving
    # NumMedia into MessageSid's value keeps the captured signature valid.
    spliced = [(name, value + "NumMedia0" if name == "MessageSid" else value)
               for name, value in captured if name != "NumMedia"]
    assert signature_of(twilio.auth_token, spliced) == signature
    caplog.clear()
    caplog.set_level(logging.INFO)
    before = len(twilio.requests)

    assert post(server.port, spliced, signature) == 403
    assert [m.id for m in inbound(hub)] == [stored.id]
    assert count(hub, QuarantineItem) == 0 and len(outbox(hub, "acknowledgement")) == 1
    assert twilio.requests[before:] == []
    assert_refused_quietly(caplog, hub, "MessageSid is not SM or MM followed by 32 hexadecimal digits",
                           PAT, body, sid)


def _replace(**values: str) -> Callable[[Pairs], Pairs]:
    return lambda pairs: [(name, values.get(name, value)) for name, value in pairs]


def _drop(dropped: str) -> Callable[[Pairs], Pairs]:
    return lambda pairs: [(name, value) for name, value in pairs if name != dropped]


def _twice(repeated: str) -> Callable[[Pairs], Pairs]:
    return lambda pairs: [*pairs, *[(name, value) for name, value in pairs if name == repeated]]


def _upper_sid(pairs: Pairs) -> Pairs:
    return [(name, value.upper() if name.endswith("Sid") and name != "AccountSid" else value)
            for name, value in pairs]


# Each changes a genuine MMS with one photo (as Twilio posts it, then signed with the right token) so that
# exactly one rule is broken; the reason is what the event and the warning say.
BROKEN_RULES = {
    "MessageSid shape": (_replace(MessageSid="XX123", SmsSid="XX123", SmsMessageSid="XX123"),
                         "MessageSid is not SM or MM followed by 32 hexadecimal digits"),
    "MessageSid in capitals": (_upper_sid, "MessageSid is not SM or MM followed by 32 hexadecimal digits"),
    "no MessageSid": (_drop("MessageSid"), "no MessageSid"),
    "SmsSid differs": (_replace(SmsSid=OTHER_SID), "SmsSid differs from MessageSid"),
    "SmsMessageSid differs": (_replace(SmsMessageSid=OTHER_SID), "SmsMessageSid differs from MessageSid"),
    "another account": (_replace(AccountSid="AC" + "f" * 32), "AccountSid is not this office's account"),
    "no AccountSid": (_drop("AccountSid"), "no AccountSid"),
    "no NumMedia": (_drop("NumMedia"), "no NumMedia"),
    "NumMedia not a count": (_replace(NumMedia="1 "), "NumMedia is not a whole number from 0 to 10"),
    "NumMedia over the MediaUrlN": (_replace(NumMedia="2"), "NumMedia is 2 but there is no MediaUrl1"),
    "MediaUrlN beyond NumMedia": (_replace(NumMedia="0"), "MediaUrl0 is beyond NumMedia 0"),
    "a field twice": (_twice("Body"), "Body is given more than once"),
    "no From": (_drop("From"), "no From"),
    "no To": (_drop("To"), "no To"),
}


@pytest.mark.parametrize("rule", BROKEN_RULES)
def test_a_signed_request_breaking_one_rule_is_refused(rule: str, hooked: tuple[Hub, ServedApp],
                                                       twilio: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    hub, server = hooked
    body = "Photo of the letter attached"
    sid = twilio.text_office(PAT, body, media=(("image/png", PHOTO),), date_sent=hub.clock.now())
    genuine = list(webhook_form(twilio, sid, PAT, body).items())
    change, reason = BROKEN_RULES[rule]
    broken = change(genuine)
    assert broken != genuine
    caplog.set_level(logging.INFO)
    before = len(twilio.requests)

    assert post(server.port, broken, signature_of(twilio.auth_token, broken)) == 403
    assert inbound(hub) == [] and count(hub, QuarantineItem) == 0 and twilio.requests[before:] == []
    assert_refused_quietly(caplog, hub, reason, PAT, body)

    # The genuine request still passes the same checks.
    assert post(server.port, genuine, signature_of(twilio.auth_token, genuine)) == 200
    (message,) = inbound(hub)
    assert message.dedupe_key == f"twilio:{sid}" and count(hub, Attachment) == 1


# --- photos after the answer -------------------------------------------------------------------------


def pending_files(hub: Hub) -> list[str]:
    with hub.sessions() as session:
        return [a.filename for a in session.scalars(select(Attachment).order_by(Attachment.id))
                if a.filename.endswith(" (to be fetched)")]


def test_the_answer_does_not_wait_for_a_slow_media_server(hooked: tuple[Hub, ServedApp],
                                                          twilio: FakeTwilio) -> None:
    hub, server = hooked
    body = "Photo of the denial letter"
    sid = twilio.text_office(PAT, body, media=(("image/png", PHOTO),), date_sent=hub.clock.now())
    form = list(webhook_form(twilio, sid, PAT, body).items())
    twilio.hold_media()  # the media server keeps the photo back (up to 5 s per attempt) until released
    try:
        started = time.monotonic()
        assert post(server.port, form, signature_of(twilio.auth_token, form)) == 200
        assert time.monotonic() - started < 1.0
        (message,) = inbound(hub)
        assert message.case_id is not None and len(outbox(hub, "acknowledgement")) == 1
        media_sid = dict(form)["MediaUrl0"].rsplit("/", 1)[1]
        assert pending_files(hub) == [f"{media_sid}.png (to be fetched)"] and photos(hub) == [None]
        wait_until(lambda: any(path.startswith("/storage/") for _, path in twilio.requests), 10, "the download")
    finally:
        twilio.release_media()
    wait_until(lambda: photos(hub) == [PHOTO], 30, "the photo on the case")
    with hub.sessions() as session:
        (attachment,) = session.scalars(select(Attachment)).all()
    assert attachment.filename == f"{media_sid}.png" and attachment.size == len(PHOTO)
    assert attachment.content_type == "image/png" and not attachment.oversized
    assert attachment.message_id == message.id


# --- stopping, as a process -------------------------------------------------------------------------


class Webhook:
    """`hub web` (or `command`) in a subprocess, started and listening on [web] listen (or on the
    deprecated [sms] webhook_listen, when `old_config`)."""

    def __init__(self, tmp_path: Path, database_url: str, twilio: FakeTwilio,
                 command: tuple[str, ...] = ("web",), old_config: bool = False, hub: Hub | None = None) -> None:
        if hub is None:
            listen = {"webhook_listen": "127.0.0.1:0"} if old_config else {}
            hub = sms_office(tmp_path / "office", database_url, twilio, webhook_url=PUBLIC_URL,
                             tables="" if old_config else '\n[web]\nlisten = "127.0.0.1:0"\n', **listen)
        self.hub = hub
        self.token = twilio.auth_token
        self.process = HubProcess(hub.config.path, tmp_path / f"webhook-{time.monotonic_ns()}.log",
                                  {TOKEN_ENV: twilio.auth_token}, command=command)
        start = self.process.wait_for_start()
        assert start.startswith("listening on "), start
        self.port = int(start.split()[2].rpartition(":")[2])

    def signal(self, number: signal.Signals) -> float:
        """Send the signal; when it was sent (time.monotonic)."""
        self.process.process.send_signal(number)
        return time.monotonic()

    def wait_for_stopping(self) -> None:
        wait_until(lambda: "stopping" in self.process.stderr(), STOP_LIMIT, "the stopping line")

    def exit_after(self, sent: float) -> tuple[int, float]:
        """The exit code and the seconds from `sent` to the exit."""
        code = self.process.process.wait(30)
        return code, time.monotonic() - sent

    def close(self) -> None:
        self.process.close()
        self.hub.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def webhook(tmp_path: Path, sqlite_url: str, twilio: FakeTwilio) -> Iterator[Webhook]:
    process = Webhook(tmp_path, sqlite_url, twilio)
    yield process
    process.close()


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_webhook(webhook: Webhook, number: signal.Signals) -> None:
    code, seconds = webhook.exit_after(webhook.signal(number))
    assert code == 0 and seconds < STOP_LIMIT, (code, seconds)
    assert "Traceback" not in webhook.process.stderr()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", webhook.port), timeout=5).close()


def test_the_old_command_and_listen_key_still_serve_with_a_warning(tmp_path: Path, sqlite_url: str,
                                                                   twilio: FakeTwilio) -> None:
    webhook = Webhook(tmp_path, sqlite_url, twilio, command=("sms", "webhook"), old_config=True)
    try:
        sid = twilio.text_office(PAT, "Is the office open?", date_sent=webhook.hub.clock.now())
        form = list(webhook_form(twilio, sid, PAT, "Is the office open?").items())
        assert post(webhook.port, form, signature_of(webhook.token, form)) == 200
        assert [m.dedupe_key for m in inbound(webhook.hub)] == [f"twilio:{sid}"]
        code, seconds = webhook.exit_after(webhook.signal(signal.SIGTERM))
        assert code == 0 and seconds < STOP_LIMIT
        assert ("[sms] webhook_listen is deprecated: write [web] listen = '127.0.0.1:0' instead"
                in webhook.process.stderr())
    finally:
        webhook.close()


def post_with_a_held_photo(webhook: Webhook, twilio: FakeTwilio) -> str:
    """A text with a photo the media server holds back, posted and answered at once; its SID."""
    body = "Here is the letter they sent"
    sid = twilio.text_office(PAT, body, media=(("image/png", PHOTO),), date_sent=webhook.hub.clock.now())
    form = list(webhook_form(twilio, sid, PAT, body).items())
    twilio.hold_media()
    started = time.monotonic()
    assert post(webhook.port, form, signature_of(webhook.token, form)) == 200
    assert time.monotonic() - started < 1.0
    wait_until(lambda: any(path.startswith("/storage/") for _, path in twilio.requests), 30, "the download")
    return sid


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_photo_still_downloading_at_the_signal_lands_before_the_exit(
        tmp_path: Path, database_url: str, twilio: FakeTwilio, number: signal.Signals) -> None:
    webhook = Webhook(tmp_path, database_url, twilio)
    try:
        sid = post_with_a_held_photo(webhook, twilio)
        sent = webhook.signal(number)
        webhook.wait_for_stopping()
        twilio.release_media()
        code, seconds = webhook.exit_after(sent)
        assert code == 0 and seconds < STOP_LIMIT, (code, seconds)
        assert "Traceback" not in webhook.process.stderr()
        (message,) = inbound(webhook.hub)
        assert message.dedupe_key == f"twilio:{sid}" and photos(webhook.hub) == [PHOTO]
        assert len(outbox(webhook.hub, "acknowledgement")) == 1
    finally:
        twilio.release_media()
        webhook.close()


def test_a_photo_held_past_the_stop_is_fetched_at_the_next_start(tmp_path: Path, database_url: str,
                                                                 twilio: FakeTwilio) -> None:
    webhook = Webhook(tmp_path, database_url, twilio)
    try:
        sid = post_with_a_held_photo(webhook, twilio)
        code, seconds = webhook.exit_after(webhook.signal(signal.SIGTERM))
        assert code == 0 and seconds < STOP_LIMIT, (code, seconds)
        assert "stopping now: 1 request still under way cut short" in webhook.process.stderr()
        (message,) = inbound(webhook.hub)
        assert message.dedupe_key == f"twilio:{sid}" and len(pending_files(webhook.hub)) == 1
        assert photos(webhook.hub) == [None]
    finally:
        twilio.release_media()
        webhook.process.close()

    again = Webhook(tmp_path, database_url, twilio, hub=webhook.hub)
    try:
        wait_until(lambda: photos(again.hub) == [PHOTO], 30, "the photo, fetched at the start")
        assert pending_files(again.hub) == [] and [m.id for m in inbound(again.hub)] == [message.id]
    finally:
        again.close()


def half_sent_request(webhook: Webhook, form: Pairs) -> tuple[socket.socket, bytes]:
    """A connection that sent the headers and half the body of a signed POST, accepted by the server; the
    rest of the body."""
    body = urlencode(form).encode()
    head = (f"POST /twilio/sms HTTP/1.1\r\nHost: hub.example.gov\r\nContent-Type: {FORM}\r\n"
            f"X-Twilio-Signature: {signature_of(webhook.token, form)}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    connection = socket.create_connection(("127.0.0.1", webhook.port), timeout=30)
    connection.sendall(head + body[:len(body) // 2])
    # The server accepts connections in the order they came: once a later one is answered, this one is
    # being read by its own thread.
    request = urllib.request.Request(f"http://127.0.0.1:{webhook.port}/twilio/sms", method="GET")
    with pytest.raises(urllib.error.HTTPError) as answered:
        OPENER.open(request, timeout=30)
    answered.value.close()
    assert answered.value.code == 405
    return connection, body[len(body) // 2:]


def test_a_request_body_still_arriving_is_answered_before_the_exit(webhook: Webhook, twilio: FakeTwilio) -> None:
    sid = twilio.text_office(PAT, "Are you open on Friday?", date_sent=webhook.hub.clock.now())
    connection, rest = half_sent_request(webhook, list(webhook_form(twilio, sid, PAT, "Are you open on Friday?")
                                                       .items()))
    with connection:
        sent = webhook.signal(signal.SIGINT)
        webhook.wait_for_stopping()
        connection.sendall(rest)
        answer = connection.makefile("rb").read()
    code, seconds = webhook.exit_after(sent)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert code == 0 and seconds < STOP_LIMIT, (code, seconds)
    assert [m.dedupe_key for m in inbound(webhook.hub)] == [f"twilio:{sid}"]


@pytest.mark.parametrize("second_signal", [False, True], ids=["grace-runs-out", "second-signal"])
def test_a_client_that_never_finishes_does_not_hold_up_the_exit(webhook: Webhook, twilio: FakeTwilio,
                                                                second_signal: bool) -> None:
    sid = twilio.text_office(PAT, "Hello?", date_sent=webhook.hub.clock.now())
    connection, _ = half_sent_request(webhook, list(webhook_form(twilio, sid, PAT, "Hello?").items()))
    with connection:
        sent = webhook.signal(signal.SIGTERM)
        if second_signal:
            webhook.wait_for_stopping()
            webhook.signal(signal.SIGTERM)
        code, seconds = webhook.exit_after(sent)
    assert code == 0 and seconds < STOP_LIMIT, (code, seconds)
    stderr = webhook.process.stderr()
    assert "Traceback" not in stderr
    assert "stopping now: 1 request still under way cut short" in stderr
    assert inbound(webhook.hub) == []

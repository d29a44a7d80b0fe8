"""The SMS line's durability, on SQLite and PostgreSQL, against the local Twilio-like server and the real
`twilio` client.

What these tests prove:

- Polling a backlog of 1,000 texts from some 300 numbers stores each text exactly once, even when the
  `hub sms poll` process is SIGKILLed in the middle: the run after it stores exactly the rest (media of
  texts already stored are not downloaded again), a third poll only lists, every number's texts share
  one case, and each case has exactly one acknowledgement in the outbox.
- A text is sent once even when the hub is SIGKILLed in the middle of delivering texts, and in
  particular when it dies after Twilio accepted a text but before the hub recorded it: the next attempt
  asks Twilio, finds the text and records its SID instead of sending it again. In process, both sides of
  that window: a marked row whose text Twilio already has is not sent again (not even when Twilio cannot
  be asked for a while), and a marked row whose text never reached Twilio is sent once.
- A text that arrives by the webhook and by polling (and by the webhook twice, as Twilio retries) is
  stored once, with its photo; a request with a bad signature stores nothing and is recorded as a
  "webhook-refused" event (test_sms_webhook.py: the requests refused despite a valid signature).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from hub.core.app import Hub
from hub.core.clock import FixedClock, as_utc
from hub.core.file_store import attachment_bytes
from hub.core.models import Attachment, Case, Event, Message, Outbox, QuarantineItem, SourceCursor
from hub.delivery import twilio as twilio_channel
from hub.delivery.deliver import LEASE, deliver_due
from hub.delivery.sms import SENDING
from hub.delivery.twilio import READ_ATTEMPTS, SmsLine
from hub.delivery.twilio_http import twilio_client
from hub.run.cycle import run_once
from hub.run.web import host, web_app
from hub.sources.sms_poll import poll_texts
from tests.helpers import make_office
from tests.hub_process import wait_until
from tests.servers.twilio import API, FakeTwilio, Reply, running_twilio
from tests.web_thread import ServedApp

pytestmark = pytest.mark.integration

OFFICE_NUMBER = "+15555550100"
TOKEN_ENV = "HUB_TEST_TWILIO_TOKEN"
PAT = "+19195550142"
PUBLIC_URL = "https://hub.example.gov/twilio/sms"
FORM = "application/x-www-form-urlencoded"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
SUBPROCESS_TIMEOUT = 120
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy


def daytime() -> datetime:
    """18:00 UTC (1 p.m. in the office's Eastern time) of the latest day on which it is at least an hour
    past. The hub's clock is set to it when it sends: Twilio (the fake, on the real clock) dates what it
    sends now, and the hub's check for a text already sent reads back only as far as the row's creation,
    so the hub's clock must not run ahead of the real one."""
    now = datetime.now(UTC)
    today = now.replace(hour=18, minute=0, second=0, microsecond=0)
    return today if now - today >= timedelta(hours=1) else today - timedelta(days=1)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with running_twilio(number=OFFICE_NUMBER) as server:
        yield server


def sms_office(folder: Path, database_url: str, twilio: FakeTwilio, clock: FixedClock | None = None,
               tables: str = "", **extra: object) -> Hub:
    return make_office(folder, database_url, clock=clock, tables=tables, sms={
        "account_sid": twilio.account_sid, "number": OFFICE_NUMBER, "auth_token_env": TOKEN_ENV,
        "api_base": twilio.api_base, "backlog_days": 1, **extra})


def hub_env(twilio: FakeTwilio) -> dict[str, str]:
    return {**os.environ, TOKEN_ENV: twilio.auth_token}


def count_inbound(hub: Hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) or 0


def inbound(hub: Hub) -> list[Message]:
    with hub.sessions() as session:
        return list(session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)))


def outbox(hub: Hub, letter: str) -> list[Outbox]:
    with hub.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.letter == letter).order_by(Outbox.id)))


def count(hub: Hub, model: type[Case] | type[Attachment] | type[QuarantineItem]) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def requests_since(twilio: FakeTwilio, start: int) -> list[tuple[str, str]]:
    return twilio.requests[start:]


def media_sids(requests: list[tuple[str, str]]) -> set[str]:
    """The messages whose media list or content was asked for."""
    return {found.group(1) for _, target in requests if (found := re.search(r"/Messages/(\w+)/Media", target))}


def only_listings(twilio: FakeTwilio, requests: list[tuple[str, str]]) -> bool:
    listing = f"{API}/Accounts/{twilio.account_sid}/Messages.json"
    return bool(requests) and all(method == "GET" and target.split("?")[0] == listing for method, target in requests)


# --- 1. polling a large backlog, killed in the middle ---------------------------------------------

TEXTS = 1000
NUMBERS = 300
MMS_EVERY = 125  # 8 of the texts carry a photo
KILL_WHEN_STORED = 300


def numbers() -> list[str]:
    """300 Eastern numbers in the 555-01xx range kept for fiction."""
    return [f"+1{area}555{100 + n:04d}" for area in ("919", "704", "212") for n in range(100)]


def body_of(n: int) -> str:
    extra = " Merci, café ☕" if n % 97 == 0 else ""
    return f"Text {n:04d}: my benefits claim is still stuck, can someone call me back?{extra}"


def photo_of(n: int) -> bytes:
    return PHOTO + n.to_bytes(2, "big")


def test_polling_1000_texts_stores_each_exactly_once_across_a_kill_in_the_middle(
        tmp_path: Path, database_url: str, twilio: FakeTwilio) -> None:
    hub = sms_office(tmp_path / "office", database_url, twilio)
    try:
        rng = random.Random(20261122)
        pool = numbers()
        senders = [pool[rng.randrange(NUMBERS)] for _ in range(TEXTS)]
        # Spread over the last ~3 hours by the real clock: `hub sms poll` reads the system clock.
        first = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        sids: list[str] = []
        for n, sender in enumerate(senders):
            media = (("image/png", photo_of(n)),) if n % MMS_EVERY == MMS_EVERY // 2 else ()
            moment = first + timedelta(seconds=10 * n)
            sids.append(twilio.text_office(sender, body_of(n), media=media, date_sent=moment))
        mms = {sid for sid in sids if sid.startswith("MM")}
        assert len(mms) == TEXTS // MMS_EVERY
        poll = [sys.executable, "-m", "hub", "--config", str(hub.config.path), "sms", "poll"]

        # The first poll is killed once some of the texts are stored.
        process = subprocess.Popen(poll, env=hub_env(twilio), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + SUBPROCESS_TIMEOUT
            while process.poll() is None and count_inbound(hub) < KILL_WHEN_STORED and time.monotonic() < deadline:
                time.sleep(0.005)
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            _, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == -signal.SIGKILL, f"the poll ended on its own first: {stderr.decode()[-2000:]}"
        stored = {m.dedupe_key for m in inbound(hub)}
        assert KILL_WHEN_STORED <= len(stored) < TEXTS, "killed in the middle"
        with hub.sessions() as session:
            position = session.scalar(select(SourceCursor.position)
                                      .where(SourceCursor.source == f"sms:{OFFICE_NUMBER}"))
        unstored = min(first + timedelta(seconds=10 * n) for n, sid in enumerate(sids) if f"twilio:{sid}" not in stored)
        assert position is None or position < unstored.timestamp(), "the watermark passed a text not yet stored"

        # The poll run again stores exactly the rest, downloading only the media of texts not stored yet.
        before = len(twilio.requests)
        second = subprocess.run(poll, env=hub_env(twilio), capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
        assert second.returncode == 0, second.stderr
        summary = second.stdout.splitlines()[0]
        assert summary.startswith(f"{TEXTS - len(stored)} texts:") and "duplicate" not in summary, summary
        assert media_sids(requests_since(twilio, before)) == {sid for sid in mms if f"twilio:{sid}" not in stored}

        messages = inbound(hub)
        assert len(messages) == TEXTS
        assert Counter(m.dedupe_key for m in messages) == Counter(f"twilio:{sid}" for sid in sids)
        by_sid = {m.dedupe_key.removeprefix("twilio:"): m for m in messages}
        for n, sid in enumerate(sids):
            assert (by_sid[sid].body, by_sid[sid].sender) == (body_of(n), senders[n]), sid
        with hub.sessions() as session:
            photos = {a.message.dedupe_key.removeprefix("twilio:"): attachment_bytes(session, a)
                      for a in session.scalars(select(Attachment))}
        assert photos == {sid: photo_of(n) for n, sid in enumerate(sids) if sid in mms}

        # One case per number, all of that number's texts on it; one acknowledgement per case.
        distinct = set(senders)
        assert count(hub, Case) == len(distinct)
        case_of: dict[str, set[int | None]] = {}
        for message in messages:
            case_of.setdefault(message.sender, set()).add(message.case_id)
        assert set(case_of) == distinct and all(len(cases) == 1 and None not in cases for cases in case_of.values())
        assert len({next(iter(cases)) for cases in case_of.values()}) == len(distinct)
        acknowledgements = outbox(hub, "acknowledgement")
        assert Counter(row.case_id for row in acknowledgements) == Counter(
            next(iter(cases)) for cases in case_of.values())
        assert sorted(row.recipient for row in acknowledgements) == sorted(distinct)
        assert {row.channel for row in acknowledgements} == {"sms"}
        assert len(outbox(hub, "caseworker-notification")) == TEXTS, "each text told the caseworker once"

        # A third poll stores nothing and only lists.
        before = len(twilio.requests)
        third = subprocess.run(poll, env=hub_env(twilio), capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
        assert third.returncode == 0, third.stderr
        assert third.stdout.splitlines()[0] == "0 texts: nothing new"
        assert only_listings(twilio, requests_since(twilio, before))
        assert count_inbound(hub) == TEXTS and len(outbox(hub, "acknowledgement")) == len(distinct)
    finally:
        hub.close()


# --- 2. delivering texts, killed in the middle ----------------------------------------------------

PEOPLE = 60
KILL_AT_TEXT = 25  # the hub dies once Twilio has accepted this text, before the hub hears back


class KillingTwilio(FakeTwilio):
    """The fake, SIGKILLing the hub right after it accepted the `kill_at`-th text and before answering."""

    def __init__(self) -> None:
        super().__init__(number=OFFICE_NUMBER)
        self.victim: int | None = None
        self.kill_at = 0

    def _create(self, path: str, form: dict[str, list[str]]) -> Reply:
        reply = super()._create(path, form)
        if self.victim is not None and reply.status == 201 and len(self.sent()) == self.kill_at:
            os.kill(self.victim, signal.SIGKILL)
            self.victim = None
        return reply


@pytest.fixture
def killing_twilio() -> Iterator[KillingTwilio]:
    fake = KillingTwilio()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def hub_run(config: Path, at: datetime) -> list[str]:
    return [sys.executable, "-m", "hub", "--config", str(config), "run", "--once", "--at", at.isoformat()]


def open_cases_by_text(hub: Hub, twilio: FakeTwilio, people: int) -> list[str]:
    """`people` constituents text the office a minute ago; polled in process. Their numbers."""
    senders = [f"+1919555{100 + n:04d}" for n in range(people)]
    for n, sender in enumerate(senders):
        twilio.text_office(sender, f"Person {n}: my passport renewal is stuck.",
                           date_sent=hub.clock.now() - timedelta(seconds=60 - n % 60))
    summary = poll_texts(hub)
    assert summary.fates["new-case"] == people
    return senders


def sent_texts(twilio: FakeTwilio) -> Counter[tuple[str, str]]:
    return Counter((str(m["to"]), str(m["body"])) for m in twilio.sent())


def test_texts_are_sent_once_when_the_hub_is_killed_in_the_middle_of_delivering_them(
        tmp_path: Path, database_url: str, killing_twilio: KillingTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    twilio = killing_twilio
    monkeypatch.setenv(TOKEN_ENV, twilio.auth_token)
    day = daytime()
    hub = sms_office(tmp_path / "office", database_url, twilio, clock=FixedClock(day))
    try:
        senders = open_cases_by_text(hub, twilio, PEOPLE)
        assert {row.state for row in outbox(hub, "acknowledgement")} == {"pending"}

        twilio.kill_at = KILL_AT_TEXT
        process = subprocess.Popen(hub_run(hub.config.path, day + timedelta(minutes=1)), env=hub_env(twilio),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        twilio.victim = process.pid
        try:
            _, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == -signal.SIGKILL, f"the hub finished before it was killed: {stderr.decode()}"

        # Killed between Twilio's accepting a text and the hub's recording it.
        assert len(twilio.sent()) == KILL_AT_TEXT
        rows = outbox(hub, "acknowledgement")
        assert Counter(row.state for row in rows) == {"sent": KILL_AT_TEXT - 1, "sending": 1,
                                                      "pending": PEOPLE - KILL_AT_TEXT}
        (killed,) = [row for row in rows if row.state == "sending"]
        last = twilio.sent()[-1]
        assert killed.provider_id == SENDING and (killed.recipient, killed.body) == (last["to"], last["body"])
        assert killed.lease_until is not None and as_utc(killed.lease_until) == day + timedelta(minutes=1) + LEASE

        # Run again once the lease ran out: the rest go, the killed one is found at Twilio, not sent again.
        before = len(twilio.requests)
        again = subprocess.run(hub_run(hub.config.path, day + LEASE + timedelta(minutes=2)), env=hub_env(twilio),
                               capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
        assert again.returncode == 0, again.stderr
        checks = [target for method, target in requests_since(twilio, before)
                  if method == "GET" and "From=" in target and "To=" in target]
        assert len(checks) == 1, "only the marked row asks Twilio whether it went"

        rows = outbox(hub, "acknowledgement")
        assert {row.state for row in rows} == {"sent"}
        assert sorted(row.recipient for row in rows) == sorted(senders)
        assert sent_texts(twilio) == Counter((row.recipient, row.body or "") for row in rows)
        assert set(sent_texts(twilio).values()) == {1}
        sid_of = {(str(m["to"]), str(m["body"])): str(m["sid"]) for m in twilio.sent()}
        assert all(row.provider_id == sid_of[(row.recipient, row.body or "")] for row in rows)
        with hub.sessions() as session:
            assert session.get_one(Outbox, killed.id).attempts == 1
            out = session.scalar(select(func.count()).select_from(Message).where(
                Message.direction == "out", Message.channel == "sms")) or 0
        assert out == PEOPLE, "each text recorded once on its case"
    finally:
        hub.close()


class Crash(Exception):
    """The process dies here (nothing after it in the delivery pass runs)."""


@pytest.fixture
def day_office(tmp_path: Path, database_url: str, twilio: FakeTwilio,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.setenv(TOKEN_ENV, twilio.auth_token)
    hub = sms_office(tmp_path / "office", database_url, twilio, clock=FixedClock(daytime()))
    yield hub
    hub.close()


def advance(hub: Hub, delta: timedelta) -> None:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(delta)


def crashed_acknowledgement(hub: Hub, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch,
                            reached_twilio: bool) -> Outbox:
    """PAT's acknowledgement as a process that died in the middle of its send leaves it: marked, leased,
    and (`reached_twilio`) accepted by Twilio, or not."""
    earlier = len(twilio.sent(PAT))
    twilio.text_office(PAT, "My passport renewal is stuck.", date_sent=hub.clock.now() - timedelta(minutes=1))
    assert poll_texts(hub).fates["new-case"] == 1
    send = SmsLine.send

    def dies(line: SmsLine, to: str, body: str) -> str:
        if reached_twilio:
            send(line, to, body)
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(SmsLine, "send", dies)
        with pytest.raises(Crash):
            deliver_due(hub)
    (row,) = outbox(hub, "acknowledgement")
    assert row.state == "sending" and row.provider_id == SENDING and row.body and row.attempts == 0
    assert len(twilio.sent(PAT)) == earlier + (1 if reached_twilio else 0)
    advance(hub, LEASE + timedelta(minutes=1))  # the lease runs out
    return row


def test_a_marked_text_twilio_already_has_is_not_sent_again(day_office: Hub, twilio: FakeTwilio,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hub = day_office
    monkeypatch.setattr(twilio_channel.time, "sleep", lambda seconds: None)  # the read retries' pauses
    row = crashed_acknowledgement(hub, twilio, monkeypatch, reached_twilio=True)
    (accepted,) = twilio.sent(PAT)
    assert accepted["body"] == row.body

    # Twilio cannot be asked for now: the row waits (still marked) rather than being sent blindly.
    twilio.fail_next(503, times=READ_ATTEMPTS)
    assert deliver_due(hub).counts.get("retrying") == 1
    (waiting,) = outbox(hub, "acknowledgement")
    assert waiting.state == "pending" and waiting.provider_id == SENDING and len(twilio.sent(PAT)) == 1

    advance(hub, timedelta(minutes=2))
    run_once(hub)
    (done,) = outbox(hub, "acknowledgement")
    assert done.state == "sent" and done.provider_id == accepted["sid"]
    assert len(twilio.sent(PAT)) == 1 and len(twilio.sent()) == 1
    advance(hub, timedelta(minutes=11))
    run_once(hub)
    assert len(twilio.sent()) == 1


def test_a_marked_text_that_never_reached_twilio_is_sent_once(day_office: Hub, twilio: FakeTwilio,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    hub = day_office
    # An older, different text to the same number must not pass for this one.
    client = twilio_client(twilio.account_sid, twilio.auth_token, api_base=twilio.api_base)
    client.messages.create(to=PAT, from_=OFFICE_NUMBER, body="An earlier text from the office.")
    row = crashed_acknowledgement(hub, twilio, monkeypatch, reached_twilio=False)
    run_once(hub)
    (done,) = outbox(hub, "acknowledgement")
    assert [m["body"] for m in twilio.sent(PAT)] == ["An earlier text from the office.", row.body]
    assert done.state == "sent" and done.provider_id == twilio.sent(PAT)[-1]["sid"] and done.attempts == 1
    advance(hub, timedelta(minutes=11))
    run_once(hub)
    assert len(twilio.sent(PAT)) == 2


def test_a_lost_send_is_not_mistaken_for_an_identical_text_another_row_holds(
        day_office: Hub, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = day_office
    twilio.text_office(PAT, "HELP", date_sent=hub.clock.now() - timedelta(minutes=1))
    poll_texts(hub)
    deliver_due(hub)
    (first,) = twilio.sent(PAT)
    advance(hub, timedelta(minutes=2))
    twilio.text_office(PAT, "help", date_sent=hub.clock.now() - timedelta(seconds=30))
    poll_texts(hub)

    def dies(line: SmsLine, to: str, body: str) -> str:
        raise Crash  # before Twilio hears of it

    with monkeypatch.context() as patch:
        patch.setattr(SmsLine, "send", dies)
        with pytest.raises(Crash):
            deliver_due(hub)
    advance(hub, LEASE + timedelta(minutes=1))
    deliver_due(hub)
    answers = twilio.sent(PAT)
    assert [m["body"] for m in answers] == [first["body"], first["body"]]  # the same words, sent twice
    assert sorted(row.provider_id or "" for row in outbox(hub, "sms-help")) == sorted(m["sid"] for m in answers)


# --- 3. webhook and polling -------------------------------------------------------------------------


@pytest.fixture
def hooked(tmp_path: Path, database_url: str, twilio: FakeTwilio,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Hub, ServedApp]]:
    """The hub's web app, as `hub web` hosts it (the photo sweep included), on a free loopback port."""
    monkeypatch.setenv(TOKEN_ENV, twilio.auth_token)
    hub = sms_office(tmp_path / "office", database_url, twilio, webhook_url=PUBLIC_URL)
    server = ServedApp(web_app(hub), serve=lambda web, stop, hurry: host(hub, web, stop, hurry))
    try:
        yield hub, server
    finally:
        server.stop()
        hub.close()


def photos(hub: Hub) -> list[bytes | None]:
    with hub.sessions() as session:
        return [attachment_bytes(session, attachment)
                for attachment in session.scalars(select(Attachment).order_by(Attachment.id))]


def post(server: ServedApp, params: dict[str, str], token: str) -> int:
    """POST the form Twilio would, signed with `token`; the HTTP status."""
    signature = RequestValidator(token).compute_signature(PUBLIC_URL, params)
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/twilio/sms", data=urlencode(params).encode(),
                                     headers={"Content-Type": FORM, "X-Twilio-Signature": signature}, method="POST")
    try:
        with OPENER.open(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            error.read()
            return error.code


def webhook_form(twilio: FakeTwilio, sid: str, sender: str, body: str) -> dict[str, str]:
    """What Twilio POSTs for the text `sid` the fake holds, its media pointing at Twilio's API."""
    client = twilio_client(twilio.account_sid, twilio.auth_token, api_base=twilio.api_base)
    media = client.messages(sid).media.list()
    form = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": twilio.account_sid,
            "From": sender, "To": OFFICE_NUMBER, "Body": body, "NumMedia": str(len(media)), "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01", "FromCountry": "US", "FromCity": ""}
    for n, item in enumerate(media):
        form[f"MediaUrl{n}"] = (f"https://api.twilio.com/2010-04-01/Accounts/{twilio.account_sid}/Messages/{sid}"
                                f"/Media/{item.sid}")
        form[f"MediaContentType{n}"] = str(item.content_type)
    return form


def test_a_text_by_webhook_and_by_polling_is_stored_once(hooked: tuple[Hub, ServedApp],
                                                         twilio: FakeTwilio) -> None:
    hub, server = hooked
    body = "Here is the letter the VA sent me"
    sid = twilio.text_office(PAT, body, media=(("image/png", PHOTO),), date_sent=hub.clock.now())
    form = webhook_form(twilio, sid, PAT, body)

    assert post(server, form, twilio.auth_token) == 200
    wait_until(lambda: photos(hub) == [PHOTO], 30, "the photo, fetched after the answer")
    (message,) = inbound(hub)
    assert message.dedupe_key == f"twilio:{sid}" and message.body == body and message.case_id is not None
    with hub.sessions() as session:
        (attachment,) = session.scalars(select(Attachment)).all()
        assert attachment_bytes(session, attachment) == PHOTO and attachment.content_type == "image/png"
        assert attachment.message_id == message.id
        assert session.get_one(Case, message.case_id).constituent.phone == PAT  # type: ignore[union-attr]

    # The poller lists it and leaves it: not stored again, its photo not downloaded again.
    before = len(twilio.requests)
    assert poll_texts(hub).total == 0
    assert only_listings(twilio, requests_since(twilio, before))

    # Twilio retries the webhook: still one text, one case, one acknowledgement.
    assert post(server, form, twilio.auth_token) == 200
    assert [m.id for m in inbound(hub)] == [message.id]
    assert count(hub, Case) == 1 and count(hub, Attachment) == 1
    assert len(outbox(hub, "acknowledgement")) == 1


def test_a_text_polled_first_and_then_posted_by_the_webhook_is_stored_once(
        hooked: tuple[Hub, ServedApp], twilio: FakeTwilio) -> None:
    hub, server = hooked
    sid = twilio.text_office(PAT, "Any news on my claim?", date_sent=hub.clock.now())
    assert poll_texts(hub).fates["new-case"] == 1
    assert post(server, webhook_form(twilio, sid, PAT, "Any news on my claim?"), twilio.auth_token) == 200
    (message,) = inbound(hub)
    assert message.dedupe_key == f"twilio:{sid}"
    assert count(hub, Case) == 1 and len(outbox(hub, "acknowledgement")) == 1


def test_a_webhook_request_with_a_bad_signature_stores_nothing_and_is_recorded(
        hooked: tuple[Hub, ServedApp], twilio: FakeTwilio) -> None:
    hub, server = hooked
    sid = twilio.text_office(PAT, "Please help", media=(("image/png", PHOTO),), date_sent=hub.clock.now())
    form = webhook_form(twilio, sid, PAT, "Please help")
    before = len(twilio.requests)
    assert post(server, form, "0" * 32) == 403
    assert inbound(hub) == [] and count(hub, Case) == 0 and count(hub, QuarantineItem) == 0
    assert requests_since(twilio, before) == [], "nothing was fetched for a refused request"
    with hub.sessions() as session:
        (refused,) = session.scalars(select(Event).where(Event.kind == "webhook-refused")).all()
    assert "bad X-Twilio-Signature" in refused.detail and refused.actor == "127.0.0.1" and refused.via == "sms"
    assert "Please help" not in refused.detail and PAT not in refused.detail


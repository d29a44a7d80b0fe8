"""The fake Twilio (tests/servers/twilio.py) against the real twilio client, and hub.delivery.twilio_http:
sending, refusals, listing with paging and the by-day DateSent filter, failures on purpose, and MMS
media downloads through the storage redirect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from hub.core.errors import PermanentError, TemporaryError
from hub.delivery.twilio_http import fetch_media, http_status, is_temporary, twilio_client
from tests.servers.twilio import FakeTwilio, running_twilio

pytestmark = pytest.mark.integration
PAT = "+15555550123"
LEE = "+15555550124"
PHOTO = bytes(range(256)) * 40  # not UTF-8, so a text decoding anywhere on the way would show


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with running_twilio() as server:
        yield server


@pytest.fixture
def client(fake: FakeTwilio) -> Client:
    return twilio_client(fake.account_sid, fake.auth_token, api_base=fake.api_base, timeout=5)


def test_send_a_text_and_read_it_back(fake: FakeTwilio, client: Client) -> None:
    created = client.messages.create(to=PAT, from_=fake.number, body="We received your message.",
                                     status_callback="https://hub.example/twilio/status")

    assert created.status == "queued" and created.date_sent is None and created.direction == "outbound-api"
    assert created.sid.startswith("SM") and len(created.sid) == 34 and created.num_segments == "1"
    [sent] = fake.sent(PAT)
    assert (sent["sid"], sent["body"], sent["from"], sent["status"]) == (created.sid, "We received your message.",
                                                                          fake.number, "sent")
    assert sent["request"]["StatusCallback"] == ["https://hub.example/twilio/status"]
    fetched = client.messages(created.sid).fetch()
    assert fetched.status == "sent" and fetched.date_sent is not None
    assert fake.sent(LEE) == []


def test_status_moves_on_when_the_test_says(fake: FakeTwilio, client: Client) -> None:
    fake.auto_send = False
    sid = client.messages.create(to=PAT, from_=fake.number, body="Hello").sid
    assert fake.sent()[0]["status"] == "queued" and fake.sent()[0]["date_sent"] is None

    fake.set_status(sid, "delivered")

    assert client.messages(sid).fetch().status == "delivered" and fake.sent()[0]["date_sent"] is not None


@pytest.mark.parametrize(("body", "segments"), [("a" * 160, "1"), ("a" * 161, "2"), ("é" * 160, "1"),
                                                 ("ł" * 70, "1"), ("ł" * 71, "2"), ("[" * 80, "1"), ("[" * 81, "2")])
def test_segments_count_gsm_and_ucs2(fake: FakeTwilio, client: Client, body: str, segments: str) -> None:
    assert client.messages.create(to=PAT, from_=fake.number, body=body).num_segments == segments


def test_refusals_carry_twilios_codes(fake: FakeTwilio, client: Client) -> None:
    fake.carrier_opted_out.add(PAT)
    refusals = {}
    for to, from_, body in [(PAT, fake.number, "Hi"), (LEE, fake.number, ""), (LEE, "+15555550199", "Hi"),
                            ("555-0123", fake.number, "Hi")]:
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=to, from_=from_, body=body)
        refusals[to, from_] = (caught.value.status, caught.value.code)
        assert not is_temporary(caught.value)

    assert list(refusals.values()) == [(400, 21610), (400, 21602), (400, 21606), (400, 21211)]
    assert fake.sent() == []


def test_list_pages_through_every_message_once_newest_first(fake: FakeTwilio, client: Client) -> None:
    sids = [fake.text_office(PAT, f"text {number}") for number in range(250)]

    listed = client.messages.list(page_size=50)

    assert [message.sid for message in listed] == sids[::-1]
    pages = [path for method, path in fake.requests if method == "GET" and "/Messages.json" in path]
    assert len(pages) == 5 and all("PageSize=50" in path for path in pages)
    assert all("PageToken=PA" in path for path in pages[1:])


def test_date_sent_filters_by_utc_day(fake: FakeTwilio, client: Client) -> None:
    today = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)
    texts = {name: fake.text_office(PAT, name, date_sent=moment) for name, moment in [
        ("two days ago", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
        ("yesterday late", datetime(2026, 11, 21, 23, 59, tzinfo=UTC)),
        ("today", datetime(2026, 11, 22, 0, 45, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
    ]}

    def names(**filters: datetime) -> list[str]:
        found = {message.sid for message in client.messages.list(**filters)}
        return [name for name, sid in texts.items() if sid in found]

    # The client sends the full time ("DateSent>=2026-11-21T00:30:00Z"); Twilio reads only the day.
    assert names(date_sent_after=today - timedelta(days=1)) == ["yesterday late", "today", "tomorrow"]
    assert names(date_sent_after=today) == ["today", "tomorrow"]
    assert names(date_sent_before=today - timedelta(days=1)) == ["two days ago", "yesterday late"]
    assert names(date_sent=today) == ["today"]
    assert any("DateSent%3E=2026-11-21T00%3A30%3A00Z" in path for _, path in fake.requests)


def test_to_and_from_filters(fake: FakeTwilio, client: Client) -> None:
    from_pat = fake.text_office(PAT, "from Pat")
    from_lee = fake.text_office(LEE, "from Lee")
    to_lee = client.messages.create(to=LEE, from_=fake.number, body="to Lee").sid

    assert [m.sid for m in client.messages.list(to=fake.number)] == [from_lee, from_pat]
    assert [m.sid for m in client.messages.list(from_=LEE)] == [from_lee]
    assert [m.sid for m in client.messages.list(to=LEE)] == [to_lee]
    inbound = client.messages(from_pat).fetch()
    assert (inbound.direction, inbound.status, inbound.num_media, inbound.to) == ("inbound", "received", "0",
                                                                                   fake.number)


def test_wrong_token_is_refused_401(fake: FakeTwilio) -> None:
    client = twilio_client(fake.account_sid, "wrong", api_base=fake.api_base, timeout=5)

    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=PAT, from_=fake.number, body="Hi")
    assert (caught.value.status, caught.value.code) == (401, 20003) and not is_temporary(caught.value)
    # A refused list page comes out as a bare TwilioException: only its response tells the status.
    with pytest.raises(TwilioException) as listing:
        client.messages.list()
    assert http_status(listing.value) == 401 and not is_temporary(listing.value)


def test_failures_on_purpose_then_success(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(429, retry_after=1)
    fake.fail_next(503)

    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=PAT, from_=fake.number, body="Hi")
    assert (caught.value.status, caught.value.code) == (429, 20429) and is_temporary(caught.value)
    with pytest.raises(TwilioException) as listing:
        client.messages.list()
    assert http_status(listing.value) == 503 and is_temporary(listing.value)

    client.messages.create(to=PAT, from_=fake.number, body="Hi")
    assert [m["body"] for m in fake.sent()] == ["Hi"]


def test_fetch_media_follows_the_redirect_to_storage(fake: FakeTwilio, client: Client) -> None:
    sid = fake.text_office(PAT, "my letter", media=[("image/jpeg", PHOTO), ("text/plain", b"page 2")])
    assert client.messages(sid).fetch().num_media == "2" and sid.startswith("MM")
    items = client.messages(sid).media.list()

    photo = fetch_media(items[0].uri, fake.account_sid, fake.auth_token, api_base=fake.api_base, timeout=5)
    # The absolute URL Twilio gives a webhook (MediaUrl0) goes to api_base too.
    url = f"https://api.twilio.com/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}/Media/{items[1].sid}"
    text = fetch_media(url, fake.account_sid, fake.auth_token, api_base=fake.api_base, timeout=5)

    assert photo == ("image/jpeg", PHOTO) and text == ("text/plain", b"page 2")
    assert [item.content_type for item in items] == ["image/jpeg", "text/plain"]
    assert ("GET", f"/storage/{items[0].sid}") in fake.requests


def test_fetch_media_refusals_are_permanent(fake: FakeTwilio, client: Client) -> None:
    sid = fake.text_office(PAT, "my letter", media=[("image/jpeg", PHOTO)])
    [item] = client.messages(sid).media.list()

    with pytest.raises(PermanentError, match="HTTP 401, Twilio error 20003"):
        fetch_media(item.uri, fake.account_sid, "wrong", api_base=fake.api_base, timeout=5)
    with pytest.raises(PermanentError, match="over the limit of 1000 bytes"):
        fetch_media(item.uri, fake.account_sid, fake.auth_token, api_base=fake.api_base, max_bytes=1000)
    with pytest.raises(PermanentError, match="credentials stay home"):
        fetch_media("https://media.example.com/ME1", fake.account_sid, fake.auth_token, api_base=fake.api_base)
    fake.fail_next(503)
    with pytest.raises(TemporaryError, match="HTTP 503"):
        fetch_media(item.uri, fake.account_sid, fake.auth_token, api_base=fake.api_base, timeout=5)


def test_server_down_is_temporary_and_back_on_the_same_port(fake: FakeTwilio, client: Client) -> None:
    sid = fake.text_office(PAT, "my letter", media=[("image/png", b"\x89PNG")])
    [item] = client.messages(sid).media.list()  # leaves a pooled keep-alive connection behind
    fake.stop()

    with pytest.raises(TemporaryError):
        fetch_media(item.uri, fake.account_sid, fake.auth_token, api_base=fake.api_base, timeout=2)
    with pytest.raises(requests.ConnectionError) as caught:
        client.messages.list()
    assert is_temporary(caught.value)

    fake.start()
    assert fetch_media(item.uri, fake.account_sid, fake.auth_token, api_base=fake.api_base) == ("image/png",
                                                                                                 b"\x89PNG")
    assert [m.sid for m in client.messages.list()] == [sid]

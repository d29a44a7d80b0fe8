"""The private Dovecot fixture itself: login, Maildir delivery, MOVE/IDLE, restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers.dovecot import DovecotServer, require_dovecot, running_dovecot

pytestmark = pytest.mark.integration


def _message(n: int) -> bytes:
    return (
        f"From: constituent{n}@example.org\r\n"
        f"To: office@example.gov\r\n"
        f"Subject: Case {n}\r\n"
        f"Message-ID: <case-{n}@example.org>\r\n"
        "\r\n"
        f"Body of message {n}.\r\n"
    ).encode()


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    require_dovecot()
    with running_dovecot(tmp_path) as server:
        yield server


@pytest.fixture
def client(dovecot: DovecotServer) -> Iterator[IMAPClient]:
    imap = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=30)
    imap.login(dovecot.user, dovecot.password)
    try:
        yield imap
    finally:
        imap.logout()


def test_login_needs_the_password(dovecot: DovecotServer) -> None:
    assert dovecot.imap_url() == f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}/INBOX"
    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=30) as imap, pytest.raises(LoginError):
        imap.login(dovecot.user, "wrong")
    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=30) as imap:
        imap.login(dovecot.user, dovecot.password)


def test_delivered_message_keeps_its_exact_bytes(dovecot: DovecotServer, client: IMAPClient) -> None:
    raw = b"Subject: exact\r\nX-Odd:  spacing\t\r\n\r\nline one\r\nno final newline"
    dovecot.deliver(raw)
    client.select_folder("INBOX", readonly=True)
    [uid] = client.search(["ALL"])
    assert client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == raw


def test_deliver_many(dovecot: DovecotServer, client: IMAPClient) -> None:
    assert dovecot.deliver_many(_message(n) for n in range(300)) == 300
    assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 300
    assert len(client.search(["ALL"])) == 300


def test_delivery_to_another_folder_and_while_selected(dovecot: DovecotServer, client: IMAPClient) -> None:
    dovecot.deliver(_message(1), folder="Archive")
    assert client.folder_exists("Archive")
    client.select_folder("INBOX")
    dovecot.deliver(_message(2))
    client.noop()
    assert len(client.search(["ALL"])) == 1


def test_advertises_move_and_idle(client: IMAPClient) -> None:
    assert client.has_capability("MOVE")
    assert client.has_capability("IDLE")


def test_idle_reports_a_delivery(dovecot: DovecotServer, client: IMAPClient) -> None:
    client.select_folder("INBOX")
    client.idle()
    try:
        dovecot.deliver(_message(1))
        responses = client.idle_check(timeout=10)
    finally:
        client.idle_done()
    assert (1, b"EXISTS") in responses


def test_move_into_a_created_folder(dovecot: DovecotServer, client: IMAPClient) -> None:
    dovecot.deliver_many([_message(1), _message(2)])
    client.create_folder("Cases")
    client.select_folder("INBOX")
    first, second = client.search(["ALL"])
    client.move([first], "Cases")
    assert client.search(["ALL"]) == [second]
    client.select_folder("Cases", readonly=True)
    [moved] = client.search(["ALL"])
    assert client.fetch([moved], ["BODY.PEEK[]"])[moved][b"BODY[]"] == _message(1)


def test_restart_keeps_the_data(dovecot: DovecotServer) -> None:
    dovecot.deliver(_message(1))
    port = dovecot.port
    dovecot.stop()
    dovecot.stop()  # idempotent
    assert not dovecot.running
    dovecot.start()
    assert dovecot.port == port
    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=30) as imap:
        imap.login(dovecot.user, dovecot.password)
        imap.select_folder("INBOX", readonly=True)
        [uid] = imap.search(["ALL"])
        assert imap.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == _message(1)


def test_close_stops_the_server(tmp_path: Path) -> None:
    require_dovecot()
    with running_dovecot(tmp_path) as server:
        assert server.running
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        IMAPClient(server.host, server.port, ssl=False, timeout=5)

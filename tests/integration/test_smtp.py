"""Outbound transports: SMTP against a real aiosmtpd on loopback (plain, STARTTLS, implicit TLS, AUTH,
refusals, a server that goes away and comes back, one connection per batch) and the Maildir sent folder.
The URL parsing tests need no server."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from hub.core.errors import AnswerLost, ConfigError, PermanentError, TemporaryError
from hub.delivery import sent_maildir
from hub.delivery.smtp import (
    SmtpAddress,
    SmtpLoginRefused,
    SmtpPermanentError,
    SmtpSender,
    SmtpTemporaryError,
    SmtpUnreachable,
    is_loopback,
)
from tests.helpers import email
from tests.servers.smtp import CapturedMessage, SmtpServer, running_smtp

T = TypeVar("T")
OFFICE = "casework@doe.example.gov"
PAT = "pat@example.com"
BODY = "The agency promised a decision by Friday."
AUTH = ("hub", "s3cret")


def letter(number: int = 1) -> bytes:
    return email(sender=OFFICE, to=PAT, subject=f"Your case {number}", body=BODY,
                 message_id=f"<letter-{number}@doe.example.gov>")


def run(work: Callable[[SmtpSender], Awaitable[T]], server: SmtpServer, password: str | None = None,
        ca_file: Path | None = None, user: str | None = None, timeout: float = 10) -> T:
    """Run `work(sender)` with one SmtpSender for `server`, in a fresh event loop."""
    async def main() -> T:
        address = SmtpAddress.parse(server.url(user))
        async with SmtpSender(address, password, ca_file, timeout, local_hostname="hub.test") as sender:
            return await work(sender)
    return asyncio.run(main())


def send_one(server: SmtpServer, raw: bytes | None = None, recipient: str = PAT, **options: object) -> str:
    async def work(sender: SmtpSender) -> str:
        return await sender.send(raw or letter(), OFFICE, recipient)
    return run(work, server, **options)  # type: ignore[arg-type]


def assert_one_line_without_body(error: BaseException) -> None:
    assert "\n" not in str(error) and BODY not in str(error)


# --- the URL, without a server ---------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://hub@mail.doe.example.gov", SmtpAddress(False, "mail.doe.example.gov", 587, "hub")),
    ("smtp://mail.doe.example.gov:2525/", SmtpAddress(False, "mail.doe.example.gov", 2525, None)),
    ("smtps://casework%40doe.example.gov@smtp.example.net", SmtpAddress(True, "smtp.example.net", 465,
                                                                        "casework@doe.example.gov")),
    ("smtps://hub@[::1]:4650", SmtpAddress(True, "::1", 4650, "hub")),
])
def test_the_url_gives_tls_mode_host_port_and_user(url: str, expected: SmtpAddress) -> None:
    assert SmtpAddress.parse(url) == expected


def test_the_name_carries_no_password_and_the_default_port() -> None:
    assert SmtpAddress.parse("smtp://hub@mail.example.gov").name == "smtp://hub@mail.example.gov:587"
    assert SmtpAddress.parse("smtps://[::1]").name == "smtps://[::1]:465"


@pytest.mark.parametrize("url", [
    "maildir:var/sent", "imap://hub@mail.example.gov", "smtp://", "smtp://hub@mail.example.gov/INBOX",
    "smtp://mail.example.gov:port", "smtp://mail.example.gov:99999", "smtp://mail.example.gov?tls=no", "",
])
def test_a_bad_url_is_a_config_error_naming_the_key(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^\[outbound\] url: "):
        SmtpAddress.parse(url)


def test_a_password_in_the_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError, match="password_env") as caught:
        SmtpAddress.parse("smtp://hub:hunter2@mail.example.gov")
    assert "hunter2" not in str(caught.value)


def test_a_user_without_a_password_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^\[outbound\] password_env: .*hub"):
        SmtpSender(SmtpAddress.parse("smtp://hub@mail.example.gov"), None)
    SmtpSender(SmtpAddress.parse("smtp://mail.example.gov"), None)  # no user: no AUTH, no password


def test_an_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^\[outbound\] ca_file: "):
        SmtpSender(SmtpAddress.parse("smtp://mail.example.gov"), None, tmp_path / "missing.pem")


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True),
                                                 ("LOCALHOST", True), ("10.0.0.1", False),
                                                 ("mail.example.gov", False)])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --- delivery -------------------------------------------------------------------------------------

@pytest.mark.integration
def test_plain_delivery_on_loopback() -> None:
    with running_smtp() as server:
        reply = send_one(server)
        [message] = server.messages
    assert reply == "250 2.0.0 Ok: queued as 00001"
    assert (message.mail_from, message.rcpt_tos, message.tls, message.login) == (OFFICE, (PAT,), False, None)
    assert message.raw == letter().replace(b"\n", b"\r\n")
    assert message.message["Subject"] == "Your case 1"
    assert list(server.by_message_id()) == ["<letter-1@doe.example.gov>"]


@pytest.mark.integration
def test_plain_auth_is_allowed_on_loopback() -> None:
    with running_smtp(auth=AUTH) as server:
        send_one(server, password=AUTH[1])
        assert [m.login for m in server.messages] == ["hub"]


@pytest.mark.integration
def test_starttls_with_auth_and_the_office_ca() -> None:
    with running_smtp(tls="starttls", auth=AUTH) as server:
        assert server.url().startswith("smtp://hub@127.0.0.1:")
        reply = send_one(server, password=AUTH[1], ca_file=server.ca_file)
        [message] = server.messages
    assert reply.startswith("250 ")
    assert (message.tls, message.login, message.rcpt_tos) == (True, "hub", (PAT,))


@pytest.mark.integration
def test_implicit_tls() -> None:
    with running_smtp(tls="implicit", auth=AUTH) as server:
        assert server.url().startswith("smtps://hub@127.0.0.1:")
        send_one(server, password=AUTH[1], ca_file=server.ca_file)
        assert [(m.tls, m.login) for m in server.messages] == [(True, "hub")]


@pytest.mark.integration
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_certificate_not_trusted_is_a_temporary_tls_failure(tls: str) -> None:
    with running_smtp(tls=tls, auth=AUTH) as server:  # type: ignore[arg-type]
        with pytest.raises(SmtpTemporaryError, match="TLS") as caught:
            send_one(server, password=AUTH[1])  # the system trust store alone
        assert server.messages == []
    assert caught.value.code is None
    assert_one_line_without_body(caught.value)


@pytest.mark.integration
def test_a_wrong_password_is_a_configuration_error_saying_the_login_was_refused() -> None:
    with running_smtp(tls="starttls", auth=AUTH) as server:
        with pytest.raises(ConfigError, match="login refused for hub") as caught:
            send_one(server, password="wrong", ca_file=server.ca_file)
        assert server.messages == []
    assert isinstance(caught.value, SmtpLoginRefused) and caught.value.code == 535
    assert "535" in str(caught.value)


# --- refusals -------------------------------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.parametrize(("code", "kind"), [(451, SmtpTemporaryError), (452, SmtpTemporaryError),
                                            (552, SmtpTemporaryError), (554, SmtpPermanentError)])
def test_a_refused_message_fails_by_its_code_and_the_connection_goes_on(code: int, kind: type[Exception]) -> None:
    with running_smtp() as server:
        server.fail_next(1, code, "x.y.z Refused on purpose")

        async def work(sender: SmtpSender) -> tuple[BaseException, str]:
            with pytest.raises(kind) as caught:
                await sender.send(letter(1), OFFICE, PAT)
            return caught.value, await sender.send(letter(2), OFFICE, PAT)

        error, reply = run(work, server)
        assert [m.message_id for m in server.rejected] == ["<letter-1@doe.example.gov>"]
        assert [m.message_id for m in server.messages] == ["<letter-2@doe.example.gov>"]
        assert len({m.peer for m in server.rejected + server.messages}) == 1  # RSET, not a new connection
    assert isinstance(error, TemporaryError if code in (451, 452, 552) else PermanentError)
    assert getattr(error, "code", None) == code
    assert f"message refused: {code} x.y.z Refused on purpose" in str(error)
    assert_one_line_without_body(error)
    assert reply.startswith("250 ")


@pytest.mark.integration
@pytest.mark.parametrize(("code", "kind"), [(550, SmtpPermanentError), (450, SmtpTemporaryError)])
def test_a_refused_recipient_fails_by_its_code(code: int, kind: type[Exception]) -> None:
    with running_smtp() as server:
        server.refuse_recipient("Nobody@Example.com", code, "x.1.1 No such user here")
        with pytest.raises(kind, match=f"recipient refused: {code} x.1.1 No such user here") as caught:
            send_one(server, recipient="nobody@example.com")
        send_one(server)
        assert [m.rcpt_tos for m in server.messages] == [(PAT,)]
    assert getattr(caught.value, "code", None) == code


@pytest.mark.integration
def test_a_server_that_never_answers_the_letter_in_time_may_have_taken_it() -> None:
    with running_smtp() as server:
        server.on_data(lambda message: time.sleep(1.5))  # holds the server's only thread
        with pytest.raises(SmtpTemporaryError, match="timed out") as caught:
            send_one(server, timeout=0.5)
        assert isinstance(caught.value, AnswerLost), "in doubt: it was taken after the wait gave up"
        server.wait_for(1)


@pytest.mark.integration
def test_a_letter_whose_answer_the_connection_lost_may_have_been_taken() -> None:
    with running_smtp() as server:
        server.lose_answers(1)
        with pytest.raises(AnswerLost, match="before the server answered; it may have taken the letter"):
            send_one(server)
        assert len(server.messages) == 1, "the server took it"


@pytest.mark.integration
def test_on_data_sees_each_message_before_it_is_accepted() -> None:
    seen: list[tuple[str, int]] = []
    with running_smtp() as server:
        server.on_data(lambda message: seen.append((message.message_id, len(server.messages))))
        send_one(server)
        server.on_data(lambda message: 1 / 0)
        with pytest.raises(SmtpTemporaryError, match="451"):
            send_one(server, letter(2))
    assert seen == [("<letter-1@doe.example.gov>", 0)]


# --- connections ----------------------------------------------------------------------------------

@pytest.mark.integration
def test_a_server_down_is_temporary_and_delivery_resumes_when_it_is_back() -> None:
    with running_smtp() as server:
        port = server.port
        server.stop()
        with pytest.raises(SmtpUnreachable, match="cannot connect") as caught:  # a TemporaryError: the whole server
            send_one(server)
        assert caught.value.code is None
        server.start()
        assert server.port == port
        send_one(server)
        assert len(server.messages) == 1


@pytest.mark.integration
def test_one_sender_keeps_one_connection_and_survives_a_restart_of_the_server() -> None:
    with running_smtp() as server:

        async def work(sender: SmtpSender) -> list[str]:
            replies = [await sender.send(letter(n), OFFICE, PAT) for n in (1, 2, 3)]
            server.stop()
            with pytest.raises(SmtpTemporaryError):
                await sender.send(letter(4), OFFICE, PAT)
            server.start()
            replies.append(await sender.send(letter(4), OFFICE, PAT))
            assert sender.connections == 2
            return replies

        replies = run(work, server)
        peers = [m.peer for m in server.messages]
    assert len(replies) == len(set(replies)) == 4
    assert peers[0] == peers[1] == peers[2] != peers[3]


@pytest.mark.integration
def test_a_connection_the_server_dropped_between_messages_is_made_again() -> None:
    with running_smtp(tls="starttls", auth=AUTH) as server:

        async def work(sender: SmtpSender) -> int:
            await sender.send(letter(1), OFFICE, PAT)
            server.drop_connections()  # no pause: the client has not noticed yet
            await sender.send(letter(2), OFFICE, PAT)
            await sender.send(letter(3), OFFICE, PAT)
            server.drop_connections()
            await asyncio.sleep(0.05)  # the client has noticed
            await sender.send(letter(4), OFFICE, PAT)
            return sender.connections

        assert run(work, server, password=AUTH[1], ca_file=server.ca_file) == 3
        messages: list[CapturedMessage] = server.messages
    assert [m.message_id for m in messages] == [f"<letter-{n}@doe.example.gov>" for n in (1, 2, 3, 4)]
    assert len({m.peer for m in messages}) == 3


# --- the Maildir sent folder ----------------------------------------------------------------------

def test_sent_maildir_keeps_one_file_per_message_id(tmp_path: Path) -> None:
    folder = tmp_path / "var" / "sent"
    first = sent_maildir.deliver(folder, letter(), "<letter-1@doe.example.gov>")
    again = sent_maildir.deliver(folder, letter(), "<letter-1@doe.example.gov>")
    other = sent_maildir.deliver(folder, letter(2), "<letter-2@doe.example.gov>")
    assert first == again != other
    assert sorted(p.name for p in (folder / "new").iterdir()) == sorted([first, other])
    assert list((folder / "tmp").iterdir()) == []
    assert (folder / "new" / first).read_bytes() == letter()
    assert stat.S_IMODE((folder / "new" / first).stat().st_mode) == 0o600
    assert {stat.S_IMODE((folder / sub).stat().st_mode) for sub in ("", "cur", "new", "tmp")} == {0o700}


def test_sent_maildir_recognises_a_message_a_mail_client_has_read(tmp_path: Path) -> None:
    name = sent_maildir.deliver(tmp_path, letter(), "<letter-1@doe.example.gov>")
    (tmp_path / "new" / name).rename(tmp_path / "cur" / f"{name}:2,S")
    assert sent_maildir.deliver(tmp_path, letter(), "letter-1@doe.example.gov") == name
    assert list((tmp_path / "new").iterdir()) == []


def test_sent_maildir_needs_a_message_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        sent_maildir.deliver(tmp_path, letter(), " <> ")

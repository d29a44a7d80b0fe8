"""The world's real mail through the whole inbound path, on SQLite and PostgreSQL: text in the charset its
sender meant, files with names a person can use, spam from `<>` and X-Loop mail recorded but never answered,
and the headers after a line broken without indentation still read. The messages are written here, each after
a behaviour seen in real mail (see tests/unit/intake/test_real_mail.py and the corpus tests)."""

from __future__ import annotations

import base64
from email import message_from_bytes

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.models import Case, Event, Message, Outbox, Party
from tests.helpers import OFFICE_ADDRESS, email, feed, stored_file, stored_raw, tally

pytestmark = pytest.mark.integration


def encoded_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def letters(hub: Hub) -> list[Outbox]:
    """What the hub queued to send to constituents and agencies (notices to caseworkers aside)."""
    with hub.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.letter != "caseworker-notification")))


def inbound(hub: Hub) -> list[Message]:
    with hub.sessions() as session:
        return list(session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)))


def test_an_iso_2022_jp_message_opens_a_case_that_reads_in_japanese(hub: Hub) -> None:
    # RFC 1468 text and RFC 2047 words in ISO-2022-JP, as Japanese mail clients send them.
    text = "旅券の申請について、ご相談したいことがあります。"
    raw = (f"From: {encoded_word('山田 花子', 'iso2022_jp')} <hanako@example.jp>\r\nTo: {OFFICE_ADDRESS}\r\n"
           f"Subject: {encoded_word('旅券の件', 'iso2022_jp')}\r\nMessage-ID: <jis.1@example.jp>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n"
           "Content-Transfer-Encoding: 7bit\r\n\r\n").encode()
    outcome = feed(hub, raw + text.encode("iso2022_jp") + b"\r\n")
    assert outcome.fate == "new-case"
    with hub.sessions() as session:
        case = session.scalars(select(Case)).one()
        constituent = case.constituent
        assert constituent is not None
        assert (case.subject, constituent.name, constituent.email) == ("旅券の件", "山田 花子", "hanako@example.jp")
    [message] = inbound(hub)
    assert (message.subject, message.body, message.full_text) == ("旅券の件", text, text)
    assert [letter.letter for letter in letters(hub)] == ["acknowledgement"]


def test_a_gbk_message_labelled_gb2312_reads_in_chinese(hub: Hub) -> None:
    text = "我們的護照申請已經三個月了，請幫忙查詢。"
    raw = (f"From: Chen <chen@example.net>\r\nTo: {OFFICE_ADDRESS}\r\nSubject: {encoded_word('護照申請', 'gbk')}\r\n"
           "Message-ID: <gbk.1@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=gb2312\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.b64encode(text.encode("gbk")) + b"\r\n"
    assert feed(hub, raw.replace(b"?gbk?", b"?gb2312?")).fate == "new-case"
    [message] = inbound(hub)
    assert (message.subject, message.body) == ("護照申請", text)


def test_spam_from_the_null_sender_is_recorded_never_answered_and_marks_no_address(hub: Hub) -> None:
    assert feed(hub, email(sender="Pat Example <pat@example.com>", subject="My pension")).fate == "new-case"
    spam = email(sender="Mail System <system@mailbox-help.example.net>", subject="Delivery failed: 3 held messages",
                 body="Messages for pat@example.com are held. Release them at the link below.",
                 headers={"Return-Path": "<>"})
    outcome = feed(hub, spam)
    assert outcome.fate == "triage"
    assert outcome.reason.startswith("auto-reply with no case: empty Return-Path")
    with hub.sessions() as session:
        assert session.scalars(select(Party).where(Party.email == "pat@example.com")).one().bounced_at is None
        assert session.scalar(select(Event).where(Event.kind == "address-bounced")) is None
    assert [letter.letter for letter in letters(hub)] == ["acknowledgement"], "nothing answers it"
    assert (tally(hub).cases, tally(hub).triage) == (1, 1)


def test_a_failure_notice_from_the_null_sender_is_still_a_bounce(hub: Hub) -> None:
    assert feed(hub, email(sender="Pat Example <pat@example.com>", subject="My pension")).fate == "new-case"
    [ack] = letters(hub)
    notice = email(sender="Mail Server <system@mx.example.com>", subject="Undeliverable: We received your message",
                   body=("Your message could not be delivered to pat@example.com: mailbox unavailable.\n\n"
                         "------ This is a copy of the message, including all the headers. ------\n\n"
                         f"From: {OFFICE_ADDRESS}\nTo: pat@example.com\nMessage-ID: {ack.message_id}\n"),
                   headers={"Return-Path": "<>"})
    outcome = feed(hub, notice)
    assert outcome.fate == "case" and "delivery-failure notice" in outcome.reason
    with hub.sessions() as session:
        assert session.scalars(select(Party).where(Party.email == "pat@example.com")).one().bounced_at is not None


@pytest.mark.parametrize("value", ["yes", "robot@agency.example.org"])
def test_x_loop_mail_is_recorded_and_never_answered(hub: Hub, value: str) -> None:
    # Zammad's auto-replies carry X-Loop: yes, procmail's an address; OTRS and Znuny answer neither.
    outcome = feed(hub, email(sender="Helpdesk <help@agency.example.org>", subject="Your request was received",
                              headers={"X-Loop": value}))
    assert outcome.fate == "triage" and "X-Loop" in outcome.reason
    assert (tally(hub).cases, tally(hub).triage, letters(hub)) == (0, 1, [])


def test_the_headers_after_a_line_broken_without_indentation_are_read(hub: Hub) -> None:
    raw = (b"From: Pat Example <pat@example.com>\r\nTo: " + OFFICE_ADDRESS.encode() + b",\r\n"
           b"Pat Example <pat@example.com>\r\nSubject: My passport application\r\n"
           b"Message-ID: <broken.1@example.com>\r\n\r\nIt has been three months.\r\n")
    assert feed(hub, raw).fate == "new-case"
    with hub.sessions() as session:
        assert session.scalars(select(Case)).one().subject == "My passport application"
    [message] = inbound(hub)
    assert (message.message_id, message.body) == ("<broken.1@example.com>", "It has been three months.")
    assert stored_raw(hub, message) == raw, "the stored message is the one received"
    assert feed(hub, raw).fate == "duplicate", "the same message, read the same way again"


def test_a_message_without_from_opens_the_case_for_its_reply_to(hub: Hub) -> None:
    raw = (b"Return-Path: <bounces+77@mailer.example.net>\r\nReply-To: Pat Example <pat@example.com>\r\n"
           b"To: " + OFFICE_ADDRESS.encode() + b"\r\nSubject: Help\r\nMessage-ID: <nofrom.1@example.com>\r\n"
           b"\r\nHello\r\n")
    assert feed(hub, raw).fate == "new-case"
    with hub.sessions() as session:
        constituent = session.scalars(select(Case)).one().constituent
        assert constituent is not None and constituent.email == "pat@example.com"
    assert [letter.recipient for letter in letters(hub)] == ["pat@example.com"]


def test_a_forwarded_message_and_a_bounce_keep_their_files_by_name(hub: Hub) -> None:
    forwarded = (b"From: Pat Example <pat@example.com>\r\nTo: " + OFFICE_ADDRESS.encode() + b"\r\n"
                 b"Subject: Fwd: denial\r\nMessage-ID: <fwd.1@example.com>\r\nMIME-Version: 1.0\r\n"
                 b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
                 b"--b1\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n"
                 b"From: SSA <notices@ssa.example.gov>\r\nSubject: Notice of Disapproved Claim\r\n"
                 b"Message-ID: <notice.7@ssa.example.gov>\r\n\r\nYour claim was denied.\r\n--b1--\r\n")
    assert feed(hub, forwarded).fate == "new-case"
    [ack] = letters(hub)
    report = (f"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {OFFICE_ADDRESS}\r\n"
              "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.9@mx.example.com>\r\n"
              "MIME-Version: 1.0\r\n"
              'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
              "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
              "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
              "Final-Recipient: rfc822; pat@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
              f"--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: {OFFICE_ADDRESS}\r\nTo: pat@example.com\r\n"
              f"Subject: We received your message\r\nMessage-ID: {ack.message_id}\r\n\r\n"
              "Dear Pat,\r\n--b1--\r\n").encode()
    assert feed(hub, report).fate == "case"
    first, bounce = inbound(hub)
    assert [(a.filename, a.content_type) for a in first.attachments] == [
        ("Notice of Disapproved Claim.eml", "message/rfc822")]
    assert message_from_bytes(stored_file(hub, first.attachments[0]) or b"")["subject"] == "Notice of Disapproved Claim"
    assert [a.filename for a in bounce.attachments] == ["delivery-status.txt", "We received your message.eml"]
    assert b"Action: failed" in (stored_file(hub, bounce.attachments[0]) or b"")

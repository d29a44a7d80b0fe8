"""The world's real mail, read as its senders wrote it: charsets and their vendor extensions, undeclared 8-bit
text, files named for a person, the sender when From is missing, and a header line broken without indentation.

Every message here is written for the test, each after a behaviour seen in real mail (the corpus files named
in test_parse_corpus.py show the same in the wild)."""

from __future__ import annotations

import base64
import struct
from email import message_from_bytes

import pytest

from hub.intake.message import InboundMessage
from hub.intake.parse.charsets import decode, undeclared
from hub.intake.parse.email import parse_email
from hub.intake.parse.header_lines import rejoin_broken_lines

CAP = 10_000_000


def parse(raw: bytes) -> InboundMessage:
    return parse_email(raw, "test", CAP)


def single(body: bytes, content_type: str = "text/plain; charset=ISO-2022-JP", encoding: str = "7bit",
           headers: bytes = b"", subject: bytes = b"Passport") -> bytes:
    return (b"From: Pat Example <pat@example.com>\r\nTo: casework@doe.example.gov\r\nSubject: " + subject +
            b"\r\nMessage-ID: <charset.1@example.com>\r\nMIME-Version: 1.0\r\n" + headers +
            b"Content-Type: " + content_type.encode() + b"\r\nContent-Transfer-Encoding: " + encoding.encode() +
            b"\r\n\r\n" + body)


# --- bodies in their declared charset, or the superset the sender meant --------------------------------------

def test_an_iso_2022_jp_body_and_subject_read_as_japanese() -> None:
    # RFC 1468: 7-bit text that switches to JIS X 0208 with ESC $ B and back with ESC ( B.
    text = "旅券の申請について、ご相談したいことがあります。"
    subject = "=?ISO-2022-JP?B?" + base64.b64encode("旅券の件".encode("iso2022_jp")).decode() + "?="
    message = parse(single(text.encode("iso2022_jp") + b"\r\n", subject=subject.encode()))
    assert message.text == text
    assert message.subject == "旅券の件"
    assert "\x1b" not in message.text


def test_iso_2022_jp_with_the_windows_extensions_reads_every_character() -> None:
    # Outlook and Windows write ISO-2022-JP as CP50221: NEC row 13 (① is JIS 0x2D21) inside ESC $ B, and
    # half-width katakana after ESC ( I. Python's iso2022_jp codecs each refuse one or the other.
    body = b"\x1b$B-!\x1b(B \x1b(I6E\x1b(B \x1b$B$*$M$,$$\x1b(B\r\n"
    assert parse(single(body)).text == "① ｶﾅ おねがい"


def test_gb2312_labelled_text_with_gbk_characters_reads_as_chinese() -> None:
    # Outlook labels GBK text GB2312; 們 and 護 are GBK only. The stdlib refuses the label's codec here.
    text = "我們的護照申請已經三個月了，請幫忙查詢。"
    message = parse(single(base64.b64encode(text.encode("gbk")) + b"\r\n", "text/html; charset=gb2312", "base64"))
    assert message.text == text


def test_iso_8859_1_labelled_text_with_windows_quotes() -> None:
    # 0x92-0x94 are C1 controls in ISO-8859-1; senders who write them mean Windows-1252 quotes.
    body = b"It\x92s about my \x93passport\x94 \x96 urgent\r\n"
    message = parse(single(body, "text/plain; charset=iso-8859-1", "8bit"))
    assert message.text == "It’s about my “passport” – urgent"


def test_a_mislabelled_japanese_body_reads_in_its_real_charset() -> None:
    text = "至急ご連絡ください。パスポートの件です。"
    message = parse(single(text.encode("cp932") + b"\r\n", "text/plain; charset=iso-2022-jp", "8bit"))
    assert message.text == text


# --- undeclared 8-bit text --------------------------------------------------------------------------------------

def test_a_raw_8bit_subject_reads_in_the_charset_the_body_declares() -> None:
    # A subject in raw GB2312 with no RFC 2047 word (Sina's bounces, flufl sina_01): the body says gb2312.
    subject = "护照申请进度查询"
    message = parse(single(base64.b64encode("您好".encode("gb2312")), "text/plain; charset=gb2312", "base64",
                           subject=subject.encode("gb2312")))
    assert message.subject == subject


def test_a_raw_8bit_latin_1_name_with_no_charset_anywhere() -> None:
    raw = single(b"Hello\r\n", "text/plain", "7bit").replace(b"Pat Example", "Lucía Peña".encode("latin-1"))
    assert parse(raw).sender_name == "Lucía Peña"


def test_a_raw_utf8_name_with_a_stray_byte_stays_utf8() -> None:
    raw = single(b"Hello\r\n", "text/plain", "7bit").replace(b"Pat Example", "Юникод Пётр".encode() + b"\xf1")
    assert parse(raw).sender_name == "Юникод Пётр\ufffd"


RUSSIAN = "Здравствуйте! Мой паспорт задерживается уже два месяца, прошу помочь с запросом в ведомство."
JAPANESE = "パスポートの申請が二か月も止まっています。問い合わせをお願いできますでしょうか。"
SPANISH = "Mi pasaporte está retrasado; la cita es el 15 de diciembre. ¿Pueden ayudarme?"


@pytest.mark.parametrize(("text", "charset"), [
    pytest.param(RUSSIAN, "cp1251", id="cp1251"), pytest.param(RUSSIAN, "koi8_r", id="koi8_r"),
    pytest.param(JAPANESE, "euc_jp", id="euc_jp"), pytest.param(SPANISH, "cp1252", id="cp1252"),
])
def test_a_body_without_a_charset_is_detected(text: str, charset: str) -> None:
    message = parse(single(text.encode(charset) + b"\r\n", "text/plain", "8bit"))
    assert message.text == text


def test_decoding_order() -> None:
    assert decode("①".encode("cp932"), "shift_jis") == "①"  # Shift_JIS as Windows-31J
    assert decode(b"\xa4\xa2", "x-euc-jp") == "あ"  # a label Python does not know
    assert decode("café".encode(), "us-ascii") == "café"  # UTF-8 labelled ASCII
    assert decode("café".encode(), "uft-8") == "café"  # a misspelt label
    assert undeclared("Peña".encode("latin-1")) == "Peña"
    assert undeclared("Zażółć gęślą jaźń".encode("cp1250")) == "Zażółć gęślą jaźń"


# --- files --------------------------------------------------------------------------------------------------------

def mixed(*parts: bytes, content_type: bytes = b"multipart/mixed") -> bytes:
    body = b"".join(b"--b1\r\n" + part + b"\r\n" for part in parts)
    return (b"From: Pat Example <pat@example.com>\r\nTo: casework@doe.example.gov\r\nSubject: Fwd: denial\r\n"
            b"Message-ID: <files.1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: " + content_type +
            b'; boundary="b1"\r\n\r\n' + body + b"--b1--\r\n")


TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSee the letter below.\r\n"
FORWARDED = (b"Content-Type: message/rfc822\r\n\r\nFrom: SSA <notices@ssa.example.gov>\r\nTo: pat@example.com\r\n"
             b"Subject: Notice of Disapproved Claim: SSI\r\nMessage-ID: <notice.7@ssa.example.gov>\r\n\r\n"
             b"Your claim was denied.\r\n")


def test_a_forwarded_message_is_a_file_named_after_its_subject() -> None:
    # Thunderbird's and Apple Mail's "Forward as attachment": one message/rfc822 part (RFC 2046 §5.2.1).
    message = parse(mixed(TEXT, FORWARDED))
    [attached] = message.attachments
    assert (attached.filename, attached.content_type) == ("Notice of Disapproved Claim_ SSI.eml", "message/rfc822")
    assert attached.data is not None and message_from_bytes(attached.data)["message-id"] == "<notice.7@ssa.example.gov>"
    assert message.text.startswith("See the letter below.")


def test_a_forwarded_message_without_a_subject() -> None:
    message = parse(mixed(TEXT, FORWARDED.replace(b"Subject: Notice of Disapproved Claim: SSI\r\n", b"")))
    assert [a.filename for a in message.attachments] == ["message.eml"]


def test_inline_images_are_named_by_their_file_name_not_their_content_id() -> None:
    html = b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Scan: <img src=\"cid:a1@x\"></p>\r\n"
    nameless = b"Content-Type: image/gif\r\nContent-ID: <a1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\nR0lGODlh\r\n"
    outlook = (b"Content-Type: image/png\r\nContent-ID: <image001.png@01DA1B2C.3D4E5F60>\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n")
    named = (b"Content-Type: image/jpeg; name=\"release.jpg\"\r\nContent-ID: <b2@x>\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n")
    message = parse(mixed(html, nameless, outlook, named, content_type=b"multipart/related"))
    # osTicket names a nameless inline image (Lotus Notes sends them) image-….gif; Zammad reads Outlook's
    # Content-ID; a name the sender gave wins.
    assert [(a.filename, a.content_type) for a in message.attachments] == [
        ("image-1.gif", "image/gif"), ("image001.png", "image/png"), ("release.jpg", "image/jpeg")]


def test_pictures_shown_inside_the_html_are_inline_and_files_beside_it_are_not() -> None:
    # Outlook: multipart/related around the text's renderings, a signature's logo or a pasted picture in it
    # with a Content-ID the HTML shows; its attached files beside it in multipart/mixed.
    html = b'Content-Type: text/html; charset=utf-8\r\n\r\n<p>Thanks</p><img src="cid:image001.png@01DB47A2">\r\n'
    logo = (b'Content-Type: image/png; name="image001.png"\r\nContent-Disposition: inline; filename="image001.png"'
            b"\r\nContent-ID: <image001.png@01DB47A2>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n")
    undisposed = (b"Content-Type: image/gif\r\nContent-ID: <a1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                  b"R0lGODlh\r\n")
    labelled = (b'Content-Type: image/jpeg\r\nContent-Disposition: attachment; filename="icon.jpg"\r\n'
                b"Content-ID: <b2@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n")  # as Gmail's bounces
    related = (b'Content-Type: multipart/related; boundary="r1"\r\n\r\n' +
               b"".join(b"--r1\r\n" + part + b"\r\n" for part in (html, logo, undisposed, labelled)) + b"--r1--\r\n")
    scan = (b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="scan.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x\r\n")
    beside = (b'Content-Type: image/png\r\nContent-Disposition: inline; filename="photo.png"\r\n'
              b"Content-ID: <c3@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n")
    message = parse(mixed(related, scan, beside))
    assert [(a.filename, a.inline) for a in message.attachments] == [
        ("image001.png", True), ("image-1.gif", True), ("icon.jpg", True), ("scan.pdf", False),
        ("photo.png", False)], "only a picture among the related HTML's resources is shown inside it"


def attribute(level: int, attribute_id: int, data: bytes) -> bytes:
    """One TNEF attribute: its level, id and length, its data, and the data's checksum."""
    return struct.pack("<BII", level, attribute_id, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def winmail(*files: tuple[bytes, bytes], padding: int = 0) -> bytes:
    """A winmail.dat as Outlook writes a file in TNEF's attachment attributes (MS-OXTNEF 2.1.3.3): for each, its
    attAttachRendData, attAttachTitle (the name, in the sender's codepage) and attAttachData; `padding`: that many
    message-level attributes (attSubject) before them."""
    out = (struct.pack("<IH", 0x223E9F78, 1) + attribute(1, 0x00089006, struct.pack("<I", 0x00010000)) +
           attribute(1, 0x00069007, struct.pack("<II", 1252, 0)) + attribute(1, 0x00018004, b"x\0") * padding)
    for name, data in files:
        out += (attribute(2, 0x00069002, bytes(14)) + attribute(2, 0x00018010, name + b"\0") +
                attribute(2, 0x0006800F, data))
    return out


def tnef_part(data: bytes) -> bytes:
    return (b'Content-Type: application/ms-tnef; name="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\n'
            b'Content-Disposition: attachment; filename="winmail.dat"\r\n\r\n' + base64.encodebytes(data))


def test_outlooks_winmail_dat_is_opened_into_the_files_it_carries() -> None:
    # Outlook in Rich Text to a recipient it takes for another Outlook (or an Exchange set so) wraps the files in
    # winmail.dat, which no other mail client opens: a caseworker would get one file she cannot read.
    award, scan = b"%PDF-1.4 award letter", b"\x89PNG\r\n\x1a\n scan"
    message = parse(mixed(TEXT, tnef_part(winmail((b"Award letter.pdf", award), (b"Solicitud Pe\xf1a.png", scan)))))
    assert [(a.filename, a.content_type, a.data, a.inline) for a in message.attachments] == [
        ("Award letter.pdf", "application/pdf", award, False), ("Solicitud Peña.png", "image/png", scan, False)]
    assert message.text.startswith("See the letter below.")


def test_a_winmail_dat_with_no_files_is_no_file_and_one_that_cannot_be_read_stays_one() -> None:
    # Exchange adds one holding only the message's properties (sisimai's Amazon WorkMail bounces carry such).
    assert parse(mixed(TEXT, tnef_part(winmail()))).attachments == ()
    damaged = parse(mixed(TEXT, tnef_part(b"not TNEF at all, but named so")))
    assert [(a.filename, a.content_type) for a in damaged.attachments] == [("winmail.dat", "application/ms-tnef")]
    truncated = parse(mixed(TEXT, tnef_part(winmail((b"a.pdf", b"%PDF" * 100))[:-150])))
    assert [a.filename for a in truncated.attachments] == ["winmail.dat"], "half a file is not given as the file"
    # Thousands of tiny attributes before a large file: reading it would copy the file's bytes at each of them.
    crafted = parse(mixed(TEXT, tnef_part(winmail((b"big.bin", b"z" * 2_000_000), padding=4_900))))
    assert [a.filename for a in crafted.attachments] == ["winmail.dat"]


@pytest.mark.parametrize(("protocol", "signature"), [
    ("application/pkcs7-signature", b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
                                    b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
                                    b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n"),
    ("application/pgp-signature", b'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
                                  b"-----BEGIN PGP SIGNATURE-----\r\niQEzBAEBCAAdFiEE\r\n"
                                  b"-----END PGP SIGNATURE-----\r\n"),
], ids=["smime", "openpgp"])
def test_a_signed_messages_signature_is_no_file_but_what_it_signs_is(protocol: str, signature: bytes) -> None:
    # Federal mail signed with a PIV or CAC card (S/MIME, RFC 8551) and OpenPGP mail (RFC 3156): the signature
    # belongs to the message, which the hub keeps whole; a caseworker cannot use it as a file.
    scan = (b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="scan.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x\r\n")
    content = (b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n' + TEXT + b"\r\n--b1\r\n" + scan +
               b"\r\n--b1--\r\n")
    message = parse(b"From: Pat Example <pat@example.com>\r\nTo: casework@doe.example.gov\r\nSubject: Fwd: denial\r\n"
                    b"Message-ID: <signed.1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; "
                    b'protocol="' + protocol.encode() + b'"; micalg=sha-256; boundary="s1"\r\n\r\n--s1\r\n' +
                    content + b"\r\n--s1\r\n" + signature + b"\r\n--s1--\r\n")
    assert [a.filename for a in message.attachments] == ["scan.pdf"]
    assert message.text.startswith("See the letter below.")


def test_the_text_and_its_alternatives_are_no_files_but_an_unnamed_download_is() -> None:
    alternative = (b'Content-Type: multipart/alternative; boundary="b2"\r\n\r\n'
                   b"--b2\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
                   b"--b2\r\nContent-Type: text/enriched\r\n\r\n<bold>Hello</bold>\r\n"
                   b"--b2\r\nContent-Type: text/html\r\n\r\n<b>Hello</b>\r\n--b2--\r\n")
    calendar = b"Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    download = b"Content-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nnotes\r\n"
    message = parse(mixed(alternative, calendar, download))
    assert [a.filename for a in message.attachments] == ["attachment-1.ics", "attachment-2.txt"]
    assert message.text == "Hello"


def test_file_names_in_any_charset() -> None:
    rfc2231 = ("Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=gb2312''" +
               "".join(f"%{byte:02X}" for byte in "護照申請.pdf".encode("gbk")) + "\r\n\r\n%PDF\r\n").encode()
    rfc2047 = (b'Content-Type: application/pdf; name="=?utf-8?B?' + base64.b64encode(b"Solicitud de pasaporte.pdf") +
               b'?="\r\nContent-Disposition: attachment\r\n\r\n%PDF\r\n')
    raw_8bit = "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"Peña.pdf\"\r\n\r\n%PDF\r\n"
    message = parse(mixed(TEXT, rfc2231, rfc2047, raw_8bit.encode("latin-1")))
    assert [a.filename for a in message.attachments] == ["護照申請.pdf", "Solicitud de pasaporte.pdf", "Peña.pdf"]


def dsn(returned: bytes) -> bytes:
    return (b"From: Mail Delivery System <MAILER-DAEMON@mx.agency.example.org>\r\nTo: casework@doe.example.gov\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.1@mx.agency.example.org>\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
            b"--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.agency.example.org\r\n\r\n"
            b"Final-Recipient: rfc822; liaison@agency.example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            b"--b1\r\n" + returned + b"--b1--\r\n")


def test_a_bounce_lists_its_delivery_report_and_the_returned_message() -> None:
    # RFC 3464 §2 and RFC 6522: the report's second part is machine-readable, the third the returned message.
    returned = (b"Content-Type: message/rfc822\r\n\r\nFrom: casework@doe.example.gov\r\n"
                b"To: liaison@agency.example.org\r\nSubject: Congressional inquiry CW-26-00042-K7\r\n\r\n"
                b"Dear liaison,\r\n\r\n")
    message = parse(dsn(returned))
    assert [(a.filename, a.content_type) for a in message.attachments] == [
        ("delivery-status.txt", "message/delivery-status"),
        ("Congressional inquiry CW-26-00042-K7.eml", "message/rfc822")]
    report = message.attachments[0].data or b""
    assert b"Action: failed" in report and b"Reporting-MTA" in report
    headers_only = returned.replace(b"message/rfc822", b"text/rfc822-headers")
    assert [a.filename for a in parse(dsn(headers_only)).attachments] == [
        "delivery-status.txt", "Congressional inquiry CW-26-00042-K7 (headers).txt"]


# --- the sender when From is missing -------------------------------------------------------------------------

@pytest.mark.parametrize(("present", "sender"), [
    (("sender", "reply-to", "return-path"), "helper@example.org"),
    (("reply-to", "return-path"), "pat@example.com"),
    (("return-path",), "bounces+123@mailer.example.net"),
])
def test_without_from_the_sender_is_sender_then_reply_to_then_return_path(present: tuple[str, ...],
                                                                          sender: str) -> None:
    # RFC 5322 §3.6.2: Sender is who sent it for the author; Reply-To is where the author wants answers;
    # Return-Path is the envelope's, often a mail service's bounce address.
    fields = {"return-path": b"Return-Path: <bounces+123@mailer.example.net>\r\n",
              "sender": b"Sender: Pat's Helper <helper@example.org>\r\n",
              "reply-to": b"Reply-To: Pat Example <pat@example.com>\r\n"}
    raw = b"".join(fields[name] for name in present) + (b"To: casework@doe.example.gov\r\nSubject: Help\r\n"
                                                       b"Message-ID: <nofrom.1@example.com>\r\n\r\nHello\r\n")
    message = parse(raw)
    assert message.sender == sender
    assert message.from_address == ""


# --- a header line broken without indentation -------------------------------------------------------------

BROKEN = (b"From: Pat Example <pat@example.com>\r\nTo: casework@doe.example.gov,\r\nPat Example <pat@example.com>\r\n"
          b"Subject: My passport application\r\nMessage-ID: <broken.1@example.com>\r\n"
          b"Date: Mon, 23 Nov 2026 14:00:00 +0000\r\n\r\nIt has been three months.\r\n")


def test_the_headers_after_a_line_broken_without_indentation_are_read() -> None:
    # RFC 5322 §2.2.3 folds with white space; this sender broke the To line with a bare line break.
    message = parse(BROKEN)
    assert message.subject == "My passport application"
    assert message.message_id == "<broken.1@example.com>"
    assert message.date is not None
    assert message.text == "It has been three months."
    assert message.raw == BROKEN, "the stored message is the one received"


def test_a_body_without_a_blank_line_before_it_stays_the_body() -> None:
    # cpython msg_35: no blank line between the headers and the body. No header follows its first line.
    raw = b"From: pat@example.com\r\nSubject: Passport\r\nThe body starts here\r\nand goes on.\r\n"
    message = parse(raw)
    assert message.subject == "Passport"
    assert "The body starts here" in message.text


def test_rejoining_keeps_line_endings_and_leaves_good_mail_alone() -> None:
    assert rejoin_broken_lines(BROKEN).startswith(
        b"From: Pat Example <pat@example.com>\r\nTo: casework@doe.example.gov,\r\n Pat Example <pat@example.com>\r\n")
    good = BROKEN.replace(b",\r\nPat", b",\r\n Pat")
    assert rejoin_broken_lines(good) is good
    mbox = b"From pat@example.com Mon Nov 23 14:00:00 2026\n" + BROKEN.replace(b"\r\n", b"\n")
    assert b"\n Pat Example" in rejoin_broken_lines(mbox)

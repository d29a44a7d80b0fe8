"""parse_email over real-world mail: whatever the bytes, an InboundMessage or a QuarantineError, nothing else.

Every data file of the MIME-robustness and bad-input corpora (mailgun-flanker, cpython-test_email,
spamscope-mail-parser, plus chatwoot and django-helpdesk) and of the bounce corpora (sisimai, flufl-bounce,
bounce_email-gem) goes through the parser. For well-formed samples the decoded values are checked against
the folder's expected.json. The corpus is read-only and lives outside the repository (tests/corpus.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from hub.core.errors import QuarantineError
from hub.intake.message import InboundAttachment, InboundMessage
from hub.intake.parse.email import parse_email
from hub.intake.screen import screen
from tests.corpus import CORPUS, corpus_dir

FOLDERS = ("mailgun-flanker", "cpython-test_email", "spamscope-mail-parser", "chatwoot", "django-helpdesk",
           "sisimai-set-of-emails", "flufl-bounce", "bounce_email-gem")
NOT_DATA = {"LICENSE", "NOTICE", "SOURCE.md", "MANIFEST.md", "expected.json", ".gitattributes"}
CAP = 10_000_000


def data_files(folder: str) -> list[str]:
    """Paths relative to the folder, listed at collection time (empty when the corpus is absent)."""
    root = CORPUS / folder
    if not root.is_dir():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")
                  if path.is_file() and path.name not in NOT_DATA and not path.name.startswith("LICENSE"))


def cases() -> Iterator[Any]:
    for folder in FOLDERS:
        files = data_files(folder)
        if not files:  # corpus_dir() skips with the reason
            yield pytest.param(folder, None, id=f"{folder}-absent")
        for name in files:
            yield pytest.param(folder, name, id=f"{folder}/{name}")


def parse(folder: str, name: str) -> InboundMessage:
    return parse_email((corpus_dir(folder) / name).read_bytes(), f"corpus:{folder}/{name}", CAP)


def expected(folder: str) -> dict[str, Any]:
    files: dict[str, Any] = json.loads((corpus_dir(folder) / "expected.json").read_text())["files"]
    return files


def texts(message: InboundMessage) -> Iterator[str]:
    """Every string the hub will store from this message."""
    for field in dataclasses.fields(message):
        value = getattr(message, field.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, str):
                yield item
            elif isinstance(item, tuple):
                yield from (part for part in item if isinstance(part, str))
            elif isinstance(item, InboundAttachment):
                yield item.filename
                yield item.content_type


@pytest.mark.parametrize(("folder", "name"), list(cases()))
def test_every_file_parses_or_is_quarantined(folder: str, name: str | None) -> None:
    root = corpus_dir(folder)
    if name is None:
        pytest.skip(f"no data files in {root}")
    try:
        message = parse(folder, name)
    except QuarantineError as error:
        assert str(error), "a quarantine needs a reason"
        return
    assert isinstance(message, InboundMessage)
    assert message.channel == "email" and message.dedupe_key and message.raw
    assert message.date is None or isinstance(message.date, datetime) and message.date.tzinfo is not None
    for text in texts(message):
        # Storable in SQLite and PostgreSQL: valid UTF-8, no NUL.
        text.encode("utf-8")
        assert "\x00" not in text
    for attachment in message.attachments:
        assert attachment.size >= 0
        assert attachment.data is None or len(attachment.data) == attachment.size


def test_mangled_bytes_never_escape_as_anything_but_quarantine() -> None:
    """Truncated, bit-flipped and spliced versions of a few awkward samples (fixed seed, so repeatable);
    what still parses must also pass screening without an error."""
    samples = [corpus_dir(folder) / name for folder, name in (
        ("mailgun-flanker", "messages/bounce/office365.eml"), ("mailgun-flanker", "messages/enclosed.eml"),
        ("cpython-test_email", "data/msg_43.txt"), ("spamscope-mail-parser", "mails/mail_malformed_2"),
        ("sisimai-set-of-emails", "maildir/mac/lhost-postfix-01.eml"), ("chatwoot", "files/bounced_gmail.eml"),
    )]
    chance = random.Random(20261123)
    outcomes = {"parsed": 0, "quarantined": 0}
    for path in samples:
        raw = path.read_bytes()
        for _ in range(40):
            data = bytearray(raw)
            cut = chance.randrange(1, len(data))
            mangle = chance.choice(("truncate", "flip", "splice", "nul"))
            if mangle == "truncate":
                data = data[:cut]
            elif mangle == "flip":
                for _ in range(20):
                    data[chance.randrange(len(data))] = chance.randrange(256)
            elif mangle == "splice":
                data = data[cut:] + data[:cut]
            else:
                data[cut:cut] = b"\x00\xff\xfe=?utf-8?b?////?=\r\r\n--"
            try:
                message = parse_email(bytes(data), "fuzz", CAP)
            except QuarantineError:
                outcomes["quarantined"] += 1
                continue
            outcomes["parsed"] += 1
            assert screen(message, "doe.example.gov").verdict in ("ok", "auto-reply", "bounce", "list", "own-mail")
    assert sum(outcomes.values()) == 40 * len(samples)


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x00" * 64, b"From nobody\n", b"no headers at all, just text",
                                 bytes(range(256)), b"Subject: only a subject\n\n",
                                 b"\xd0\xcf\x11\xe0" + b"\x00" * 500])
def test_degenerate_input(raw: bytes) -> None:
    try:
        parse_email(raw, "degenerate", CAP)
    except QuarantineError:
        pass


def test_the_outlook_msg_file_is_refused_cleanly() -> None:
    with pytest.raises(QuarantineError):
        parse("spamscope-mail-parser", "mails/mail_outlook_1")


# --- decoded values against expected.json ------------------------------------------------------------------

def test_spamscope_reference_message() -> None:
    want = expected("spamscope-mail-parser")["mails/mail_test_2"]
    message = parse("spamscope-mail-parser", "mails/mail_test_2")
    assert message.subject == want["subject"]
    assert message.sender == want["from_address"]
    assert message.message_id == want["message_id"]
    assert message.recipients[0] == want["to_first_address"]
    assert message.date is not None and message.date.isoformat() == want["date_utc_iso"]
    assert [a.filename for a in message.attachments] == want["attachment_filenames"]
    assert len(message.attachments) == want["attachments_count"]


@pytest.mark.parametrize("name", ["mails/mail_test_17", "mails/mail_test_18", "mails/mail_test_19"])
def test_spamscope_address_edge_cases(name: str) -> None:
    # mail_test_18: an encoded display name holding a comma; mail_test_19: an address used as display name.
    (display_name, address), = expected("spamscope-mail-parser")[name]["from"]
    message = parse("spamscope-mail-parser", name)
    assert message.sender == address
    assert message.sender_name in (display_name, "")
    if name.endswith("18"):
        assert message.sender_name == display_name


def test_spamscope_attachment_names() -> None:
    files = expected("spamscope-mail-parser")
    assert [a.filename for a in parse("spamscope-mail-parser", "mails/mail_test_3").attachments] == \
        [files["mails/mail_test_3"]["first_attachment"]["filename"]]
    # Three inline GIFs without a file name: upstream names them by Content-ID, the hub by type (osTicket
    # does the same for Lotus Notes' nameless images); the PDF keeps its own name.
    names = [a.filename for a in parse("spamscope-mail-parser", "mails/mail_test_10").attachments]
    want = files["mails/mail_test_10"]["attachment_names"]
    assert len(names) == len(want)
    assert [name for name in want if not name.startswith("<")] == [name for name in names if name.endswith(".pdf")]
    assert sorted(name for name in names if not name.endswith(".pdf")) == ["image-1.gif", "image-2.gif", "image-3.gif"]
    assert [a.inline for a in parse("spamscope-mail-parser", "mails/mail_test_10").attachments] == \
        [True, True, True, False], "Lotus Notes' pictures shown inside its HTML; the PDF beside it"
    assert len(parse("spamscope-mail-parser", "mails/mail_test_5").attachments) == \
        files["mails/mail_test_5"]["attachments_count"]


@pytest.mark.parametrize("name", ["test_files/quoted_printable.eml", "test_files/all-special-chars.eml",
                                  "test_files/pgp.eml", "test_files/utf-nondecodable.eml",
                                  "test_files/forwarded-message.eml"])
def test_helpdesk_charsets(name: str) -> None:
    want = expected("django-helpdesk")[name]
    message = parse("django-helpdesk", name)
    assert message.subject == want["subject"]
    if "body_text" in want:
        assert message.text.strip() == want["body_text"]
    if name != "test_files/utf-nondecodable.eml":
        # There the fragment is only in the HTML part (the parts differ, says expected.json); the hub reads
        # the text/plain part when there is one.
        for fragment in want.get("body_contains", []):
            assert fragment in message.text


def test_helpdesk_blank_body_with_attachment() -> None:
    want = expected("django-helpdesk")["test_files/blank-body-with-attachment.eml"]
    message = parse("django-helpdesk", "test_files/blank-body-with-attachment.eml")
    assert message.text.strip() == want["body_stripped"]
    assert message.subject.startswith(want["ticket_title_truncated"].removesuffix("..."))
    assert len(message.attachments) == 1


def test_flanker_decoded_values() -> None:
    files = expected("mailgun-flanker")
    display_name = files["messages/from-encoding.eml"]["from"].split('"')[1]  # raw 8-bit Latin-1 name
    assert parse("mailgun-flanker", "messages/from-encoding.eml").sender_name == display_name
    for name in ("messages/torture.eml", "messages/apache-message-news-mime.eml", "messages/bounce/delayed.eml"):
        assert parse("mailgun-flanker", name).subject == files[name]["subject"].strip(), name
    # expected.json calls it "body", but the value is the Subject's: two UTF-8 encoded words that split a
    # Cyrillic character between them, so they must be joined before decoding (RFC 2047 §6.2).
    bilingual = parse("mailgun-flanker", "messages/bilingual-simple.eml")
    assert bilingual.subject == files["messages/bilingual-simple.eml"]["body"]
    pic = parse("mailgun-flanker", "messages/mailgun-pic.eml")
    assert [a.filename for a in pic.attachments] == [files["messages/mailgun-pic.eml"]["attachment_file_name"]]
    assert pic.attachments[0].content_type == files["messages/mailgun-pic.eml"]["attachment_detected_content_type"]
    iphone = parse("mailgun-flanker", "messages/iphone.eml")
    photo = files["messages/iphone.eml"]["part1_content_disposition"][1]["filename"]
    assert [a.filename for a in iphone.attachments] == [photo]


def test_cpython_attachment_names() -> None:
    files = expected("cpython-test_email")
    for name in ("data/msg_04.txt", "data/msg_44.txt"):
        assert [a.filename for a in parse("cpython-test_email", name).attachments] == files[name]["part_filenames"]
    assert [a.filename for a in parse("cpython-test_email", "data/msg_07.txt").attachments] == \
        [files["data/msg_07.txt"]["part1_filename"]]
    assert files["data/msg_22.txt"]["part1_param_name"] in \
        [a.filename for a in parse("cpython-test_email", "data/msg_22.txt").attachments]


def test_chatwoot_threading_headers_and_encoded_words() -> None:
    files = expected("chatwoot")
    arabic = parse("chatwoot", "files/non_utf_encoded_mail.eml")
    assert arabic.subject == files["files/non_utf_encoded_mail.eml"]["subject"].strip()
    assert arabic.text.startswith(files["files/non_utf_encoded_mail.eml"]["reply_text_prefix_71"][:40])
    folded = parse("chatwoot", "files/multiple_in_reply_to.eml")
    assert folded.in_reply_to[0] == f"<{files['files/multiple_in_reply_to.eml']['in_reply_to_first']}>"
    references = parse("chatwoot", "files/mail_with_references.eml")
    assert references.references == tuple(f"<{ref}>" for ref in files["files/mail_with_references.eml"]["references"])
    assert parse("chatwoot", "files/malformed_reply_to.eml").sender == "sender@example.com"


def header_bytes(folder: str, name: str, field: bytes, occurrence: int = 0) -> bytes:
    """The raw value of a header line in a corpus file (the `occurrence`-th, counting attached messages)."""
    lines = [line for line in (corpus_dir(folder) / name).read_bytes().splitlines() if line.startswith(field + b": ")]
    return lines[occurrence][len(field) + 2:].strip()


def test_real_world_charsets() -> None:
    """Text in the charset its sender meant, where the stdlib's reading (and mail-parser's) was mojibake."""
    # A raw 8-bit GB2312 subject with no RFC 2047 word; the body declares gb2312.
    assert parse("flufl-bounce", "data/sina_01.txt").subject == header_bytes("flufl-bounce", "data/sina_01.txt",
                                                                             b"Subject").decode("gb2312")
    # Encoded words labelled gb2312 holding a GBK character (0x8CC2), and a gb2312-labelled GBK body.
    spam = parse("spamscope-mail-parser", "mails/mail_test_9")
    words = decode_header(str(message_from_bytes(spam.raw)["subject"]))
    assert {charset for _, charset in words} == {"gb2312"}
    assert spam.subject == "".join(chunk.decode("gbk") for chunk, _ in words if isinstance(chunk, bytes))
    assert "\ufffd" not in spam.text
    # ISO-2022-JP bodies (Lotus Domino, m-FILTER, au KDDI): Japanese, not escape codes.
    for name in ("domino-02", "mfilter-01", "notes-01", "postfix-49", "sendmail-51"):
        assert "\x1b" not in parse("sisimai-set-of-emails", f"maildir/bsd/lhost-{name}.eml").text, name
    domino = parse("sisimai-set-of-emails", "maildir/bsd/lhost-domino-02.eml")
    assert "ユーザー Neko (kijitora@example.co.jp) は Domino ディレクトリには見つかりません。" in domino.text
    # A raw UTF-8 name cut inside its last character reads as UTF-8 up to the cut.
    yahoo = parse("mailgun-flanker", "messages/russian-attachment-yahoo.eml")
    assert yahoo.attachments[0].filename.startswith("Картинка с очень, очень длинным предлинным именем")


def test_real_world_files() -> None:
    # Returned headers whose Subject is Shift_JIS labelled ISO-2022-JP (spam returned by Postfix).
    postfix = parse("sisimai-set-of-emails", "maildir/bsd/lhost-postfix-09.eml")
    subject = base64.b64decode(header_bytes("sisimai-set-of-emails", "maildir/bsd/lhost-postfix-09.eml",
                                            b"Subject", 1).split(b"?")[3]).decode("cp932")
    assert [a.filename for a in postfix.attachments] == ["delivery-status.txt", f"{subject} (headers).txt"]
    # An attached original whose Subject is raw UTF-8 (au KDDI), a Gmail bounce's report and original.
    kddi = parse("sisimai-set-of-emails", "maildir/bsd/lhost-kddi-01.eml")
    inner = header_bytes("sisimai-set-of-emails", "maildir/bsd/lhost-kddi-01.eml", b"Subject", 1).decode()
    assert [a.filename for a in kddi.attachments] == [f"{inner}.eml"]
    gmail = parse("chatwoot", "files/bounced_gmail.eml")
    original = header_bytes("chatwoot", "files/bounced_gmail.eml", b"Subject", 1).decode()
    assert [a.filename for a in gmail.attachments] == ["icon.png", "delivery-status.txt", f"{original}.eml"]
    assert [a.inline for a in gmail.attachments] == [True, False, False], "the icon its HTML shows, labelled a download"
    returned = message_from_bytes(gmail.attachments[2].data or b"")
    assert returned["message-id"] == expected("chatwoot")["files/bounced_gmail.eml"]["original_message_id"]
    # An S/MIME-signed message (flanker): its signature, smime.p7s, is no file.
    assert "smime.p7s" not in [a.filename for a in parse("mailgun-flanker", "messages/signed.eml").attachments]
    # Exchange's winmail.dat beside an Amazon WorkMail bounce holds only the message's properties: no file.
    workmail = parse("sisimai-set-of-emails", "maildir/bsd/lhost-amazonworkmail-01.eml")
    assert [a.content_type for a in workmail.attachments] == ["message/rfc822"]
    # An inner multipart that reuses the outer boundary leaves the next part in the epilogue.
    assert [a.filename for a in parse("cpython-test_email", "data/msg_15.txt").attachments] == ["xx.gif"]


RANDOM_NAME = re.compile(r"^[a-z]{10}\.txt$")


def test_no_file_in_the_corpus_is_named_at_random_or_by_content_id() -> None:
    """mail-parser names an unnamed download `<10 random letters>.txt` and an unnamed image by its Content-ID;
    every attached message and delivery report is a file of its own."""
    named = reports = 0
    for folder in FOLDERS:
        corpus_dir(folder)  # skips without the corpus, rather than counting nothing
        for name in data_files(folder):
            try:
                message = parse(folder, name)
            except QuarantineError:
                continue
            files = [a.filename for a in message.attachments]
            assert not [file for file in files if RANDOM_NAME.match(file) or file.startswith("<")], (folder, name)
            outer = list(_outer_parts(message_from_bytes(message.raw)))
            want_eml = sum(1 for part in outer if part.get_content_type() == "message/rfc822")
            assert sum(1 for a in message.attachments if a.content_type == "message/rfc822") == want_eml, (folder, name)
            named += want_eml
            reports += sum(1 for file in files if file == "delivery-status.txt")
    assert (named, reports) >= (455, 420), (named, reports)


def _outer_parts(message: Message) -> Iterator[Message]:
    """The parts of a message outside any attached message."""
    yield message
    payload = message.get_payload()
    if message.get_content_type() != "message/rfc822" and isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _outer_parts(part)


def test_a_subject_wrapped_without_indentation() -> None:
    # Gmail's forwarded-message header block as Discourse's reply trimmer received it: the Subject wrapped
    # onto a bare line, which ended the headers and hid To.
    message = parse("discourse-email_reply_trimmer", "embedded/forwarded_message.txt")
    assert message.subject == "Some subject that spans over 2 lines"
    assert message.recipients == ("infod@discourse.org",)
    assert message.text == "This is a forwarded email. And just that."


def test_line_endings_do_not_change_what_is_read() -> None:
    """sisimai ships the same samples with LF, CRLF and CR-only line endings."""
    twins = [name for name, entry in expected("sisimai-set-of-emails").items()
             if entry.get("identical_to_twin_after_newline_normalisation")]
    assert twins
    for name in twins:
        twin = parse("sisimai-set-of-emails", expected("sisimai-set-of-emails")[name]["bsd_twin"])
        copy = parse("sisimai-set-of-emails", name)
        assert (copy.sender, copy.subject, copy.message_id) == (twin.sender, twin.subject, twin.message_id), name


def test_the_corpus_location_is_the_shared_one() -> None:
    assert CORPUS == Path(__file__).resolve().parents[3].parent / "shared" / "corpus"

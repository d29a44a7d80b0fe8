"""Mutated real mail for the fuzz runs (tests/integration/test_fuzz.py, bench/fuzz.py).

Seeds are the shared corpus's messages (when it is checked out), the generated office mail of
tests/mailgen.py, and the reproductions of past poison messages. Each input is a seed with one to three
mutations of the kinds that broke mail software before: bytes flipped or cut, NUL and 8-bit bytes in
headers and MIME parameters, broken or missing boundaries, odd charsets and transfer encodings, folded
lines broken, deep nesting, huge header lists, encoded words that do not decode, and references of ours
with wrong check codes. Everything is derived from one random seed: a run can be repeated exactly.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hub.core.app import Hub
from hub.core.refs import References
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake, process
from tests.corpus import CORPUS
from tests.mailgen import office_mailbox

# Folders whose files are whole messages (the reply-parser folders hold bodies only).
MESSAGE_FOLDERS = ("bounce_email-gem", "chatwoot", "cpython-test_email", "django-helpdesk", "flufl-bounce",
                   "mailgun-flanker", "mailgun-talon", "sisimai-set-of-emails", "spamscope-mail-parser")
POISON_BOUNCE = (b'From: MAILER-DAEMON@mail.example.com\r\nTo: casework@doe.example.gov\r\n'
                 b'Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <poison-1@mail.example.com>\r\n'
                 b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                 b'Content-Type: text/plain; charset="us-ascii\0"\r\n\r\n'
                 b'This is the mail system. Your message could not be delivered to <x@example.org>.\r\n--b--\r\n')
CONTENT_TYPES = (
    b"multipart/report; report-type=delivery-status; boundary=\"b\"", b"message/rfc822",
    b"multipart/mixed; boundary=\"\"", b"multipart/alternative", b"text/plain; charset=unknown-8bit",
    b"text/plain; charset=utf-7", b"text/plain; charset=\"us-ascii\0\"", b"text/html; charset=iso-2022-jp",
    b"text/plain; charset=x-no-such-charset", b"message/delivery-status", b"text/rfc822-headers",
    b"application/octet-stream; name=\"\xff\xfe.pdf\"", b"multipart/mixed; boundary=\"b\"; boundary=\"c\"",
    b"text/plain; format=flowed; delsp=yes; charset=gb2312", b"message/partial; id=\"x\"; number=1; total=2",
)
ENCODINGS = (b"base64", b"quoted-printable", b"x-uuencode", b"8bit", b"binary", b"7bit\0", b"bogus")
HEADER_NOISE = (
    b"From: ", b"From: <>", b"From: \"a\0b\" <a@example.com>", b"From: =?utf-8?b?!!!?= <x@example.com>",
    b"From: =?x-unknown?q?abc?= <y@example.com>", b"From: a@example.com, b@example.com, c@example.com",
    b"Subject: =?utf-8?q?=FF=FE?=", b"Subject: \xff\xfe\xfd", b"Message-ID: <>", b"Message-ID: <a@b> <c@d>",
    b"In-Reply-To: <" + b"x" * 5000 + b">", b"Return-Path: <>", b"Auto-Submitted: \0",
    b"Authentication-Results: mx.doe.example.gov; dkim=pass (((((((((((((((((((((((((((((((((((((",
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999", b"Content-Disposition: attachment; filename*=utf-8''%FF%FE",
    b"Reply-To: casework+cw2600001zz@doe.example.gov", b"X-Failed-Recipients: \0@\0",
    b"To: casework+\xff@doe.example.gov", b"Delivered-To: " + b"a" * 3000 + b"@doe.example.gov",
)
Mutation = Callable[[random.Random, bytes, list[bytes]], bytes]


def corpus_seeds() -> list[bytes]:
    """The shared corpus's whole messages, in a fixed order ([] when the corpus is not checked out)."""
    found = []
    for folder in MESSAGE_FOLDERS:
        root = CORPUS / folder
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file() and _is_message_file(p)):
                found.append(path.read_bytes())
    return found


def _is_message_file(path: Path) -> bool:
    return path.suffix.lower() not in (".md", ".json", ".html") and path.name not in ("LICENSE", "SHA256SUMS")


def generated_seeds(refs: References, count: int = 60) -> list[bytes]:
    return [generated.raw for generated in office_mailbox(count, refs, year=26)]


def mutants(seeds: list[bytes], count: int, seed: int, refs: References) -> Iterator[tuple[str, bytes]]:
    """`count` (description, raw bytes) inputs, the same ones for the same arguments."""
    rng = random.Random(seed)
    pool = [*seeds, POISON_BOUNCE]
    mutations = _mutations(refs)
    for number in range(count):
        raw = rng.choice(pool)
        names = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            name, mutate = rng.choice(mutations)
            raw = mutate(rng, raw, pool)
            names.append(name)
        yield f"{number}:{'+'.join(names)}", raw


def _mutations(refs: References) -> list[tuple[str, Mutation]]:
    def wrong_reference(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
        good = refs.make(26, rng.randrange(1, 50))
        wrong = f"CW-26-{good.sequence:05d}-{rng.choice('ABCDEFGH')}{rng.choice('23456789')}".encode()
        lines = [b"Subject: Re: [" + wrong + b"] " + str(good).encode(),
                 b"To: casework+" + good.compact.encode() + b"x@doe.example.gov",
                 b"In-Reply-To: <hub." + good.compact.encode() + b".0000@doe.example.gov>"]
        return _with_header(raw, rng.choice(lines))

    return [
        ("flip", _flip), ("cut", _cut), ("nul", _nul), ("high-bytes", _high_bytes), ("drop-line", _drop_line),
        ("repeat-line", _repeat_line), ("splice", _splice), ("content-type", _content_type),
        ("transfer-encoding", _transfer_encoding), ("header-noise", _header_noise), ("unfold", _unfold),
        ("line-ends", _line_ends), ("long-line", _long_line), ("nest", _nest), ("many-references", _many_references),
        ("boundary", _boundary), ("no-headers", _no_headers), ("wrong-reference", wrong_reference),
        ("rfc822-inside", _rfc822_inside),
    ]


def _flip(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 12)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _cut(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    return raw[:rng.randrange(len(raw) + 1)]


def _nul(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    head, _, body = raw.partition(b"\n\n" if b"\r\n\r\n" not in raw else b"\r\n\r\n")
    where = rng.randrange(len(head) + 1)
    if rng.random() < 0.5 and b'"' in head:  # inside a quoted parameter, as in the poison bounce
        quotes = [index for index, byte in enumerate(head) if byte == ord('"')]
        where = rng.choice(quotes)
    head = head[:where] + b"\0" + head[where:]
    return head + b"\r\n\r\n" + body if body else head


def _high_bytes(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    noise = bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 40)))
    where = rng.randrange(len(raw) + 1)
    return raw[:where] + noise + raw[where:]


def _lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\n")


def _drop_line(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    lines = _lines(raw)
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def _repeat_line(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    lines = _lines(raw)
    index = rng.randrange(len(lines))
    lines[index:index + 1] = [lines[index]] * rng.choice((2, 50, 2000))
    return b"\n".join(lines)


def _splice(rng: random.Random, raw: bytes, pool: list[bytes]) -> bytes:
    other = rng.choice(pool)
    return raw[:rng.randrange(len(raw) + 1)] + other[rng.randrange(len(other) + 1):]


def _with_header(raw: bytes, line: bytes) -> bytes:
    return line + b"\r\n" + raw


def _content_type(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    return _with_header(raw, b"Content-Type: " + rng.choice(CONTENT_TYPES))


def _transfer_encoding(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    return _with_header(raw, b"Content-Transfer-Encoding: " + rng.choice(ENCODINGS))


def _header_noise(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    return _with_header(raw, rng.choice(HEADER_NOISE))


def _unfold(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    """A folded header line broken without its indentation."""
    lines = _lines(raw)
    folded = [index for index, line in enumerate(lines[:200]) if line[:1] in (b" ", b"\t")]
    if folded:
        index = rng.choice(folded)
        lines[index] = lines[index].lstrip()
    return b"\n".join(lines)


def _line_ends(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", rng.choice((b"\r", b"\n", b"\r\r\n", b"\n\r")))


def _long_line(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    where = rng.randrange(len(raw) + 1)
    return raw[:where] + bytes([rng.choice(b"ax=<@ >")]) * rng.choice((1000, 100_000, 2_000_000)) + raw[where:]


def _nest(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    depth = rng.choice((20, 200, 2000))
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=\"n%d\"\r\n\r\n--n%d\r\n" % (i, i)
                       for i in range(depth))
    closing = b"".join(b"\r\n--n%d--\r\n" % i for i in reversed(range(depth)))
    return b"From: nest@example.com\r\nMIME-Version: 1.0\r\n" + opening + raw + closing


def _many_references(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    count = rng.choice((500, 20_000, 200_000))
    ids = b"\r\n ".join(b"<r%d.%d@example.com>" % (rng.randrange(10**6), i) for i in range(count))
    return _with_header(raw, b"References: " + ids)


def _boundary(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    lines = _lines(raw)
    marks = [index for index, line in enumerate(lines) if line.startswith(b"--")]
    if not marks:
        return raw
    index = rng.choice(marks)
    lines[index] = rng.choice((b"", lines[index] + b"--", lines[index][:3], b"--" + b"x" * 5000))
    return b"\n".join(lines)


def _no_headers(rng: random.Random, raw: bytes, _pool: list[bytes]) -> bytes:
    return raw.partition(b"\n\n")[2] or raw[rng.randrange(len(raw) + 1):]


def _rfc822_inside(rng: random.Random, raw: bytes, pool: list[bytes]) -> bytes:
    inner = rng.choice(pool)
    return (b"From: forward@example.com\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"f\"\r\n\r\n--f\r\nContent-Type: text/plain\r\n\r\nsee\r\n"
            b"--f\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--f--\r\n" + raw[:0])


@dataclass
class FuzzReport:
    """What a fuzz run saw: every input's fate, the escapes (anything raised out of the inbound path)
    and the inputs that took longer than the limit."""

    inputs: int = 0
    fates: Counter[str] = field(default_factory=Counter)
    escapes: list[str] = field(default_factory=list)
    slow: list[tuple[str, float]] = field(default_factory=list)
    slowest: tuple[str, float] = ("", 0.0)
    seconds: float = 0.0


class _Hung(BaseException):  # not an Exception: no handler in the path may take it for a failure of its own
    pass


def run(hub: Hub, inputs: Iterable[tuple[str, bytes]], slow_seconds: float = 5.0,
        hang_seconds: float = 60.0) -> FuzzReport:
    """Each input through the whole inbound path (parse, screen, identify, thread, route, apply) in this
    process, timed; an input still running after `hang_seconds` is stopped and counted as an escape."""
    report = FuzzReport()
    started = time.perf_counter()

    def hung(_signal: int, _frame: object) -> None:
        raise _Hung()

    previous = signal.signal(signal.SIGALRM, hung)
    try:
        for name, raw in inputs:
            report.inputs += 1
            begun = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, hang_seconds)
            try:
                report.fates[process(Intake.of(hub), raw, f"fuzz:{name}", parse_email).fate] += 1
            except _Hung:
                report.escapes.append(f"{name}: still running after {hang_seconds:.0f} s")
            except Exception as error:  # the measure: anything at all that leaves the path
                report.escapes.append(f"{name}: {type(error).__name__}: {str(error)[:200]}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - begun
            if took > slow_seconds:
                report.slow.append((name, took))
            if took > report.slowest[1]:
                report.slowest = (name, took)
    finally:
        signal.signal(signal.SIGALRM, previous)
    report.seconds = time.perf_counter() - started
    return report

"""A deterministic, realistic constituency-office mailbox, each message with the fate the hub owes it.

`office_mailbox(n, refs, year)` yields `n` messages in arrival order. Processed in that order by an
empty office, the k-th message of shape "new" opens case sequence k (`refs.make(year, k)`); every later
message that belongs to a case names it by that reference (subject, body, plus-address or one of our
Message-IDs) or by In-Reply-To to the case's first message. Nothing is held per message: the facts of
case k are re-derived from (seed, k), and only a small window of recent messages is kept for exact
duplicates, so 100,000 messages stream in constant memory.

Shapes and fates (the rules of DESIGN.md and hub/intake):

| shape                     | what it is                                                          | expect    |
|---------------------------|---------------------------------------------------------------------|-----------|
| new                       | a constituent's first letter (text, HTML-only, PDF/scan, RFC 2047)  | new-case  |
| reply-gmail/outlook/apple | the case's constituent replies; ref in subject and/or plus-address  | case      |
| follow-up                 | the constituent answers their own first message (In-Reply-To only)  | case      |
| agency-rewritten-subject  | agency domain, subject rewritten, only In-Reply-To one of our ids   | case      |
| ref-in-body-only          | the constituent quotes the reference in the body only               | case      |
| auto-reply                | out-of-office; with our ref or Message-ID -> case, without -> triage| case/triage |
| bounce                    | RFC 3464 DSN; returning our acknowledgement -> case, else triage    | case/triage |
| list                      | mailing-list mail (List-Id, Precedence: bulk)                       | triage    |
| duplicate                 | the exact bytes of a recent message                                 | duplicate |
| malformed                 | empty, blank, headerless or trace-headers-only bytes                | quarantine|
| forwarded-ref-stranger    | someone else forwards the acknowledgement with its verified ref     | triage    |
| staff-reply               | a caseworker replies with the ref in the subject                    | case      |

Run `python -m tests.mailgen [N]` for the mix, the sizes, and a parse check of every message.
"""

from __future__ import annotations

import base64
import binascii
import random
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr
from functools import lru_cache

from hub.core.refs import Reference, References

OFFICE_ADDRESS = "casework@doe.example.gov"  # the same as tests.helpers.OFFICE_ADDRESS
OFFICE_NAME = "Office of Representative Jane Doe"
MX = "mx.doe.example.gov"
STAFF = (("Maria Lopez", "maria.lopez@doe.example.gov"), ("Sam Carter", "sam.carter@doe.example.gov"))
GMAIL_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+="
DUPLICATE_WINDOW = 64  # recent messages an exact duplicate is drawn from
CASELESS = ("new", "list", "malformed", "duplicate")  # shapes that do not need an open case


@dataclass(frozen=True)
class Generated:
    raw: bytes
    shape: str
    expect: str  # "new-case" | "case" | "triage" | "duplicate" | "quarantine"
    case_sequence: int | None  # the case it must land on ("new-case"/"case"), else None


# ---- people, problems and the agencies that answer ----------------------------------------------

FIRST = ("Pat", "Linda", "James", "Maria", "Robert", "Keisha", "David", "Susan", "Michael", "Dorothy", "Wei",
         "José", "Zoë", "Siobhán", "Łukasz", "Renée", "Thanh", "Björn", "Ahmed", "Guadalupe", "Tyrone", "Ingrid")
LAST = ("Rivera", "Johnson", "Nguyễn", "Hernández", "O'Connor", "Smith", "Williams", "Müller", "Kowalski",
        "Brown", "Okafor", "Davis", "Dubois", "García", "Patel", "Thompson", "Yamamoto", "Jackson", "Novák")
# (domain, client): the mail client a person on that domain usually writes with.
DOMAINS = (("gmail.com", "gmail"), ("gmail.com", "gmail"), ("gmail.com", "gmail"), ("yahoo.com", "gmail"),
           ("outlook.com", "outlook"), ("hotmail.com", "outlook"), ("comcast.net", "outlook"),
           ("icloud.com", "apple"), ("me.com", "apple"), ("att.net", "apple"), ("aol.com", "outlook"))
PROVIDERS = {"gmail.com": "gmail", "outlook.com": "outlook", "hotmail.com": "outlook", "doe.example.gov": "outlook"}
STREETS = ("Elm Street", "Oak Avenue", "Main Street", "Cedar Lane", "Maple Drive", "Pine Ridge Road",
           "Church Street", "Calle Sol", "Lakeview Court", "Old Mill Road")
CITIES = ("Springfield", "Riverside", "Fairview", "Greenville", "Salem", "Madison", "Franklin", "Clinton")


@dataclass(frozen=True)
class Topic:
    key: str
    about: str            # how the office names the problem
    liaison: str          # the agency's congressional liaison, who answers inquiries
    subjects: tuple[str, ...]
    paragraphs: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic("ssa", "your Social Security disability benefits",
          "SSA Office of Congressional Relations <congressional.inquiries@ssa.gov>",
          ("My disability payments stopped", "SSDI back pay still not received after approval",
           "Need help with my Social Security appeal", "Pagos de incapacidad suspendidos — ayuda"),
          ("My Social Security disability payments stopped in {month} and nobody at the local office can tell "
           "me why. I have called {calls} times and waited on hold for more than an hour each time.",
           "I was approved by the judge on {date} but I still have not received the back pay. The letter said "
           "it would take 60 days. It has been {weeks} weeks and my rent is due on the first.",
           "The field office says my file was sent for a continuing disability review, but I mailed every form "
           "they asked for, by certified mail, on {date}. I have the receipts.",
           "I am {age} years old and this is my only income. My landlord has been patient but I owe "
           "${amount} now and I cannot keep asking my daughter for money.",
           "My claim number is on the letter they sent me. I can bring it to your office or scan it.")),
    Topic("va", "your VA pension claim",
          "VA Office of Congressional and Legislative Affairs <ocla.inquiries@va.gov>",
          ("VA pension claim pending for {months} months", "Survivor pension for my mother",
           "Aid and Attendance application - no decision", "VA disability rating appeal stuck"),
          ("My father served in Vietnam from 1968 to 1970 and applied for the VA pension with Aid and "
           "Attendance on {date}. The website still says the claim is gathering evidence.",
           "He is in assisted living now and the cost is ${amount} a month. We are using up his savings "
           "while we wait for the VA to decide.",
           "We sent his DD-214 twice and the doctor's statement. The VA called once to ask for a form we "
           "had already sent, and nobody has called back since.",
           "I am his daughter and I hold his power of attorney; he has signed your privacy release form "
           "and I can send it today.",
           "The claim number begins with his Social Security number. I would rather not put it in an email.")),
    Topic("passport", "your passport application",
          "Passport Services Congressional Liaison <ca-ppt-congressional@state.gov>",
          ("Urgent passport – travel in 3 weeks", "Passport application not received after {weeks} weeks",
           "Renewal stuck 'In Process'", "Pasaporte urgente – viaje el {day} de diciembre"),
          ("I applied for my passport renewal at the post office on {date} and paid for expedited service. "
           "The online status still says In Process.",
           "I fly to {city_abroad} on {travel} for my sister's wedding and the tickets are not refundable.",
           "I called the National Passport Information Center {calls} times. They say they cannot make an "
           "appointment for me at the agency because all appointments are booked.",
           "My old passport expired in {month}; I sent it with the application together with two photos "
           "and my birth certificate.",
           "Is there anything the Congresswoman's office can do to find out where my application is?")),
    Topic("irs", "your federal tax refund",
          "Taxpayer Advocate Service <tas.congressional@tas.irs.gov>",
          ("Tax refund from 2025 still not received", "IRS identity verification letter 5071C",
           "Amended return (1040-X) pending over a year", "Refund offset - I don't owe anything"),
          ("I filed my 2025 return electronically on {date}. My refund of ${amount} has still not arrived "
           "and Where's My Refund says my return is still being processed.",
           "I received letter 5071C asking me to verify my identity. I did that online on {date} and "
           "heard nothing since.",
           "I have called the IRS {calls} times. Each time the call is dropped after two hours on hold.",
           "We need the refund to pay for my husband's medication. His insurance changed in {month}.",
           "I can send copies of the letters and my return if you need them.")),
    Topic("medicare", "your Medicare coverage",
          "CMS Office of Legislation <congressional.inquiries@cms.hhs.gov>",
          ("Medicare Part B enrollment denied", "Medicare won't cover my power wheelchair",
           "Premiums taken twice from my Social Security", "Medicare card never arrived"),
          ("I turned 65 in {month} and signed up for Part B, but the letter says I missed my enrollment "
           "period and will pay a penalty. I was working and had coverage through my employer.",
           "My doctor ordered a power wheelchair on {date}. The supplier says Medicare denied it twice.",
           "The Part B premium of ${amount} was taken out of my Social Security check twice in {month}.",
           "I have sent the employer coverage form (CMS-L564) to the Social Security office twice.",
           "I am {age} and I cannot stand for long; I cannot go to the office again to sort this out.")),
    Topic("uscis", "your immigration case",
          "USCIS Office of Legislative Affairs <congressional.inquiries@uscis.dhs.gov>",
          ("Green card renewal (I-90) delayed", "Naturalization interview never scheduled",
           "Work permit expired while renewal pending", "Petición de ciudadanía – ayuda, por favor"),
          ("I filed form {form} on {date}. The case status online has not changed in {months} months.",
           "My employment authorization expires on {travel} and my employer says they will have to let me "
           "go if the new card does not arrive.",
           "I went to my biometrics appointment on {date}. Since then I have received nothing.",
           "I have lived in {city} for {years} years and my children were born here. I only want to know "
           "when my interview will be.",
           "I submitted an inquiry through the USCIS Contact Center twice and both times was told to wait.")),
)
PEOPLE_WORDS = {"month": ("January", "March", "May", "June", "August", "September", "October"),
                "city_abroad": ("Manila", "Guadalajara", "Kraków", "Lagos", "Hanoi", "Dublin", "Lyon"),
                "form": ("I-90", "N-400", "I-765", "I-130", "I-485")}
GREETINGS = ("Dear Congresswoman Doe,", "Hello,", "To whom it may concern,", "Hi,", "Good morning,",
             "Dear Representative Doe and staff,")
CLOSINGS = ("Thank you for any help you can give.", "I would be very grateful for your help.",
            "Please let me know what else you need from me.", "Thank you for your time.")
LISTS = (("AARP Bulletin", "newsletters@email.aarp.example.org", "bulletin.aarp.example.org"),
         ("Springfield County News", "news@lists.springfield.example.org", "news.springfield.example.org"),
         ("SSA Updates", "ssa@public.govdelivery.com", "USSSA.public.govdelivery.com"),
         ("Veterans Coalition", "info@vetscoalition.example.org", "members.vetscoalition.example.org"))


# ---- one case's facts, re-derived from (seed, sequence) -----------------------------------------

@dataclass(frozen=True)
class Person:
    name: str
    address: str
    client: str  # "gmail" | "outlook" | "apple"
    street: str
    city: str
    phone: str


@dataclass(frozen=True)
class Profile:
    """What later mail knows about case `sequence`."""

    sequence: int
    ref: Reference
    person: Person
    topic: Topic
    subject: str
    first_message_id: str  # the Message-ID of the constituent's letter that opened it


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum()).lower()


def _person(rng: random.Random) -> Person:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    domain, client = rng.choice(DOMAINS)
    local = rng.choice((f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 999)}",
                        f"{_ascii(first)[0]}{_ascii(last)}{rng.randint(1940, 2005)}",
                        f"{_ascii(last)}.{_ascii(first)}{rng.randint(10, 99)}"))
    return Person(f"{first} {last}", f"{local}@{domain}", client, f"{rng.randint(12, 9800)} {rng.choice(STREETS)}",
                  rng.choice(CITIES), f"(555) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}")


def _token(rng: random.Random, length: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    return "".join(rng.choices(alphabet, k=length))


def _message_id(rng: random.Random, client: str, domain: str) -> str:
    if client == "gmail":
        return f"<CA{_token(rng, 44, GMAIL_ID_CHARS)}@mail.gmail.com>"
    if client == "outlook":
        return (f"<{_token(rng, 4, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}{rng.randint(1, 9)}PR{rng.randint(10, 19)}MB"
                f"{rng.randint(1000, 9999)}{_token(rng, 20, 'ABCDEF0123456789')}@{_token(rng, 6).upper()}"
                f".namprd{rng.randint(10, 19)}.prod.outlook.com>")
    if client == "apple":
        return f"<{str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()}@{domain}>"
    return f"<{rng.getrandbits(64):016x}.{rng.randint(1000, 9999)}@{domain}>"


class _Cases:
    """Case facts by sequence, derived (and cached) from the seed alone."""

    def __init__(self, refs: References, year: int, seed: int) -> None:
        self.refs, self.year, self.seed = refs, year, seed
        self.get: Callable[[int], Profile] = lru_cache(maxsize=4096)(self._derive)

    def _derive(self, sequence: int) -> Profile:
        rng = random.Random(f"{self.seed}:case:{sequence}")
        if sequence > 1 and rng.random() < 0.08:  # a constituent who writes about a second problem
            person = _person(random.Random(f"{self.seed}:person:{rng.randint(1, sequence - 1)}"))
        else:
            person = _person(random.Random(f"{self.seed}:person:{sequence}"))
        topic = rng.choice(TOPICS)
        subject = _fill(rng, rng.choice(topic.subjects), person)
        domain = person.address.rsplit("@", 1)[1]
        return Profile(sequence, self.refs.make(self.year, sequence), person, topic, subject,
                       _message_id(rng, person.client, domain))


def _fill(rng: random.Random, text: str, person: Person) -> str:
    values: dict[str, object] = {key: rng.choice(words) for key, words in PEOPLE_WORDS.items()}
    values.update(calls=rng.randint(3, 14), weeks=rng.randint(6, 20), months=rng.randint(5, 18),
                  age=rng.randint(58, 91), amount=f"{rng.randint(300, 9000):,}", day=rng.randint(2, 28),
                  date=f"{rng.choice(PEOPLE_WORDS['month'])} {rng.randint(1, 28)}", years=rng.randint(6, 30),
                  travel=f"December {rng.randint(2, 28)}", city=person.city)
    return text.format(**values)


# ---- building messages ---------------------------------------------------------------------------

def _header_value(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode(maxlinelen=76)


def _address(name: str, address: str) -> str:
    return formataddr((name, address))


def _b64(rng: random.Random, size: int) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


def _folded(text: str, width: int = 70) -> str:
    """A long token split over continuation lines (signatures, anti-spam blobs)."""
    return "\n\t".join(text[i:i + width] for i in range(0, len(text), width))


def _signature_header(rng: random.Random, domain: str) -> str:
    return (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s{rng.randint(1, 4)}; t={rng.getrandbits(31)};"
            f"\n\th=from:to:subject:date:message-id:mime-version; bh={_b64(rng, 32)};\n\tb={_folded(_b64(rng, 256))}")


def _provider_headers(rng: random.Random, domain: str, date: datetime) -> list[tuple[str, str]]:
    """What the sender's provider adds: ARC sets, a second DKIM, anti-spam verdicts (all inert to the hub)."""
    stamp, provider = format_datetime(date), PROVIDERS.get(domain, "relay")
    if provider == "gmail":
        return [("ARC-Seal", f"i=1; a=rsa-sha256; t={rng.getrandbits(31)}; cv=none; d=google.com; s=arc-20240605;"
                             f"\n\tb={_folded(_b64(rng, 256))}"),
                ("ARC-Message-Signature", "i=1; a=rsa-sha256; c=relaxed/relaxed; d=google.com; s=arc-20240605;\n\t"
                                          f"h=to:subject:message-id:date:from:mime-version:dkim-signature;\n\t"
                                          f"bh={_b64(rng, 32)};\n\tb={_folded(_b64(rng, 256))}"),
                ("ARC-Authentication-Results", f"i=1; mx.google.com; dkim=pass header.i=@{domain}; spf=pass"),
                ("X-Google-DKIM-Signature", _signature_header(rng, "1e100.net")),
                ("X-Gm-Message-State", _folded(_b64(rng, 90))),
                ("X-Google-Smtp-Source", _folded(_b64(rng, 60))),
                ("X-Received", f"by 2002:a05:{rng.getrandbits(16):x}::{rng.getrandbits(16):x} with SMTP id "
                               f"{_token(rng, 18)};\n\t{stamp}")]
    if provider == "outlook":
        return [("ARC-Seal", f"i=1; a=rsa-sha256; s=arcselector10001; d=microsoft.com; cv=none;\n\t"
                             f"b={_folded(_b64(rng, 256))}"),
                ("ARC-Message-Signature", "i=1; a=rsa-sha256; c=relaxed/relaxed; d=microsoft.com; "
                                          f"s=arcselector10001;\n\tbh={_b64(rng, 32)};\n\tb={_folded(_b64(rng, 256))}"),
                ("X-MS-Office365-Filtering-Correlation-Id", str(uuid.UUID(int=rng.getrandbits(128), version=4))),
                ("X-Microsoft-Antispam", "BCL:0;ARA:13230040|366016|1800799024|376014;"),
                ("X-Microsoft-Antispam-Message-Info", _folded(_b64(rng, 900))),
                ("X-Forefront-Antispam-Report",
                 "CIP:255.255.255.255;CTRY:;LANG:en;SCL:1;SRV:;IPV:NLI;SFV:NSPM;"
                 f"H:{_token(rng, 10).upper()}.namprd11.prod.outlook.com;PTR:;CAT:NONE;"),
                ("X-MS-Exchange-AntiSpam-MessageData-0", _folded(_b64(rng, 600))),
                ("X-MS-Exchange-CrossTenant-OriginalArrivalTime", stamp)]
    return [("X-Proofpoint-GUID", _token(rng, 32)), ("X-Proofpoint-Spam-Details",
             _folded(f"rule=notspam policy=default score=0 spamscore=0 mlxscore=0 bulkscore=0 phishscore=0 "
                     f"adultscore=0 suspectscore=0 classifier=spam adjust=0 reason=mlx scancount=1 "
                     f"engine=8.19.0-{rng.randint(2400000000, 2499999999)} definitions=main-{_token(rng, 10)}"))]


def _trace(rng: random.Random, sender_domain: str, to: str, date: datetime,
           provider: bool = True) -> list[tuple[str, str]]:
    """Delivery headers: the office MX's Received and Authentication-Results, the sender's DKIM and more."""
    ip = f"{rng.randint(20, 209)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    host = f"mail-{_token(rng, 6)}.{sender_domain}"
    stamp = format_datetime(date + timedelta(seconds=rng.randint(1, 40)))
    # The office MX's authentication milter writes its verdict above the MX's own Received line.
    return [
        ("Delivered-To", to),
        ("Authentication-Results", f"{MX};\n\tdkim=pass header.d={sender_domain};\n\tspf=pass "
                                   f"smtp.mailfrom={sender_domain};\n\tdmarc=pass header.from={sender_domain}"),
        ("Received-SPF", f"pass (mx.doe.example.gov: domain of {sender_domain} designates {ip} as permitted sender)"),
        ("Received", f"from {host} ({host} [{ip}])\n\tby {MX} (Postfix) with ESMTPS id {_token(rng, 12).upper()}"
                     f"\n\tfor <{to}>; {stamp}"),
        ("Received", f"by {host} with SMTP id {_token(rng, 16)};\n\t{format_datetime(date)}"),
        ("DKIM-Signature", _signature_header(rng, sender_domain)),
        *(_provider_headers(rng, sender_domain, date) if provider else []),
    ]


def _assemble(headers: list[tuple[str, str]], body: str) -> bytes:
    """The header block (kept exactly as written), MIME-Version, then the MIME entity (its headers and body)."""
    block = "".join(f"{name}: {value}\n" for name, value in headers)
    return (block + "MIME-Version: 1.0\n" + body).encode()


def _text_part(text: str, subtype: str = "plain", flowed: bool = False) -> str:
    charset = '; charset="UTF-8"' + ("; format=flowed" if flowed else "")
    if text.isascii():
        return f"Content-Type: text/{subtype}{charset}\nContent-Transfer-Encoding: 7bit\n\n{text}"
    encoded = binascii.b2a_qp(text.encode()).decode("ascii")
    return f"Content-Type: text/{subtype}{charset}\nContent-Transfer-Encoding: quoted-printable\n\n{encoded}"


def _multipart(rng: random.Random, subtype: str, parts: list[str]) -> str:
    boundary = f"00000000000{rng.getrandbits(52):013x}"
    inner = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n{inner}--{boundary}--\n'


def _text_body(rng: random.Random, text: str, html: str | None = None, html_only: bool = False,
               flowed: bool = False) -> str:
    if html is not None and html_only:
        return _text_part(html, "html")
    if html is None:
        return _text_part(text, flowed=flowed)
    return _multipart(rng, "alternative", [_text_part(text, flowed=flowed), _text_part(html, "html")])


def _pdf(rng: random.Random, size: int) -> bytes:
    """A small, structurally plausible PDF with a compressed-looking stream of `size` bytes."""
    stream = rng.randbytes(size)
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n"
            + f"4 0 obj\n<< /Length {size} /Filter /FlateDecode >>\nstream\n".encode() + stream
            + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def _attach(rng: random.Random, body: str, large: bool) -> str:
    """The body with a PDF or a phone photo attached (large: 40-150 KB, else 4-30 KB before base64)."""
    size = rng.randint(40_000, 150_000) if large else rng.randint(4_000, 30_000)
    if rng.random() < 0.7:
        name = rng.choice(("letter.pdf", "SSA notice.pdf", "denial_letter.pdf", "scan0001.pdf", "DD214.pdf"))
        kind, data = "application/pdf", _pdf(rng, size)
    else:
        name, kind = f"IMG_{rng.randint(1000, 9999)}.jpeg", "image/jpeg"
        data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + rng.randbytes(size)
    attachment = (f'Content-Type: {kind}; name="{name}"\nContent-Disposition: attachment; filename="{name}"\n'
                  f"Content-Transfer-Encoding: base64\n\n{base64.encodebytes(data).decode()}")
    return _multipart(rng, "mixed", [body, attachment])


def _html(paragraphs: list[str]) -> str:
    inner = "".join(f"<p>{p.replace('&', '&amp;').replace('<', '&lt;')}</p>\n" for p in paragraphs)
    return f'<html><head><meta charset="utf-8"></head><body><div dir="ltr">\n{inner}</div></body></html>\n'


def _signature(person: Person) -> str:
    return f"{person.name}\n{person.street}\n{person.city}, NC\n{person.phone}"


def _ack_text(profile: Profile) -> str:
    return (f"Dear {profile.person.name},\n\nThank you for contacting the {OFFICE_NAME}. We have opened case "
            f"{profile.ref} about {profile.topic.about}. A caseworker will be in touch within two business days.\n\n"
            "Please keep the reference in the subject line when you write to us, and reply to this message "
            "so your letter reaches your caseworker directly.\n\nConstituent Services\n" + OFFICE_NAME)


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


# ---- the mailbox ---------------------------------------------------------------------------------

class _Mailbox:
    def __init__(self, n: int, refs: References, year: int, office_address: str, seed: int) -> None:
        self.n, self.refs, self.office = n, refs, office_address
        self.office_domain = office_address.rsplit("@", 1)[1]
        self.rng = random.Random(f"mailbox:{seed}")
        self.cases = _Cases(refs, year % 100, seed)
        self.opened = 0
        self.recent: deque[bytes] = deque(maxlen=DUPLICATE_WINDOW)
        self.malformed = 0
        end = datetime(2000 + year % 100, 11, 20, 17, 0, tzinfo=UTC)
        self.start, self.step = end - timedelta(days=45), timedelta(days=45) / max(n, 1)
        self.index = 0

    # (shape, weight); the shapes that need a case fall back to "new" while there is none.
    WEIGHTS = (("new", 35), ("reply", 24), ("follow-up", 2), ("agency-rewritten-subject", 8),
               ("ref-in-body-only", 4), ("auto-reply", 6), ("bounce", 4), ("list", 5), ("duplicate", 3),
               ("malformed", 1), ("forwarded-ref-stranger", 2), ("staff-reply", 6))

    def __iter__(self) -> Iterator[Generated]:
        shapes, weights = zip(*self.WEIGHTS, strict=True)
        for index in range(self.n):
            self.index = index
            shape = self.rng.choices(shapes, weights)[0]
            if (shape == "duplicate" and not self.recent) or (shape not in CASELESS and not self.opened):
                shape = "new"
            item = getattr(self, "_" + shape.replace("-", "_"))()
            if item.expect not in ("quarantine", "duplicate"):
                self.recent.append(item.raw)
            yield item

    @property
    def date(self) -> datetime:
        return self.start + self.step * self.index + timedelta(seconds=self.rng.randint(0, 59))

    def _case(self) -> Profile:
        """A case to write about: mostly recent ones, sometimes any."""
        if self.rng.random() < 0.7:
            return self.cases.get(max(1, self.opened - int(self.rng.expovariate(1 / 40))))
        return self.cases.get(self.rng.randint(1, self.opened))

    def _our_id(self, profile: Profile) -> str:
        """One of our Message-IDs for the case (refs.message_id's form, with a seeded token)."""
        left = self.refs.message_id(self.office_domain, profile.ref).strip("<>").split("@", 1)[0]
        return f"<{left.rsplit('.', 1)[0]}.{self.rng.getrandbits(64):016x}@{self.office_domain}>"

    def _headers(self, sender: str, to: str, subject: str, message_id: str, date: datetime,
                 extra: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        address = sender.rsplit("<", 1)[-1].strip(">")
        domain = address.rsplit("@", 1)[1]
        recipient = to.rsplit("<", 1)[-1].strip(">")
        return [("Return-Path", f"<{address}>"), *_trace(self.rng, domain, recipient, date),
                ("From", sender), ("To", to), ("Subject", _header_value(subject)),
                ("Date", format_datetime(date)), ("Message-ID", message_id), *extra]

    def _letter(self, rng: random.Random, profile: Profile) -> list[str]:
        paragraphs = rng.sample(profile.topic.paragraphs, rng.randint(2, 4))
        return [rng.choice(GREETINGS), *(_fill(rng, p, profile.person) for p in paragraphs),
                rng.choice(CLOSINGS), "Sincerely,\n" + _signature(profile.person)]

    # -- shapes --

    def _new(self) -> Generated:
        self.opened += 1
        profile = self.cases.get(self.opened)
        rng, person = self.rng, profile.person
        paragraphs = self._letter(rng, profile)
        text = "\n\n".join(paragraphs) + "\n"
        style = rng.random()
        body = _text_body(rng, text, _html(paragraphs) if style < 0.55 else None, html_only=0.45 <= style < 0.55)
        if rng.random() < 0.18:
            body = _attach(rng, body, large=rng.random() < 0.6)
        family = f"{_ascii(person.name.split()[0])}.family@gmail.com"
        extra = [("Cc", _address("", family))] if rng.random() < 0.05 else []
        raw = _assemble(self._headers(_address(person.name, person.address), self.office, profile.subject,
                                      profile.first_message_id, self.date, extra), body)
        return Generated(raw, "new", "new-case", profile.sequence)

    def _reply(self) -> Generated:
        profile, rng = self._case(), self.rng
        person, ref = profile.person, profile.ref
        earlier = rng.choice((f"[{ref}] We received your message", f"[{ref}] Update on your case"))
        quoted = _ack_text(profile)
        new = rng.choice((
            "Thank you. I found the letter; it says my file was sent for review. I can scan it if you need it.",
            "I got another letter from them today. They want the same form again. What should I do?",
            "Thank you so much for your help. I just wanted to let you know nothing has changed yet.",
            "Yes, I signed the privacy release and mailed it this morning. My phone number is below.",
            "Good news, the payment arrived yesterday! Thank you to everyone in your office.",
        )) + "\n\n" + person.name.split()[0]
        with_subject_ref, with_plus = rng.random() < 0.8, rng.random() < 0.6
        if not (with_subject_ref or with_plus):
            with_plus = True
        to = self.refs.plus_address(self.office, ref) if with_plus else self.office
        subject = ("Re: " + earlier) if with_subject_ref else f"Re: {profile.subject}"
        extra: list[tuple[str, str]] = []
        if rng.random() < 0.5:
            our = self._our_id(profile)
            extra = [("In-Reply-To", our), ("References", f"{profile.first_message_id}\n {our}")]
        when = self.date
        sent = format_datetime(when - timedelta(days=2, hours=3))
        office = _address("Constituent Services", self.office)
        if person.client == "gmail":
            text = f"{new}\n\nOn {sent} {office} wrote:\n\n{_quote(quoted)}\n"
            html = (f'<div dir="ltr">{new.replace(chr(10), "<br>")}</div><br><div class="gmail_quote">'
                    f'<div dir="ltr" class="gmail_attr">On {sent} {office.replace("<", "&lt;")} wrote:<br></div>'
                    '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
                    f'rgb(204,204,204);padding-left:1ex">{quoted.replace(chr(10), "<br>")}</blockquote></div>\n')
            body = _text_body(rng, text, html)
        elif person.client == "outlook":
            subject = subject.replace("Re: ", "RE: ", 1)
            if rng.random() < 0.5:
                history = (f"From: {office}\nSent: {when.strftime('%A, %B %d, %Y %I:%M %p')}\n"
                           f"To: {_address(person.name, person.address)}\nSubject: {earlier}\n\n{quoted}")
            else:
                history = f"-----Original Message-----\nFrom: {office}\nSent: {sent}\nSubject: {earlier}\n\n{quoted}"
            text = f"{new}\n\n{history}\n"
            html = ('<html><head><style><!-- p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0in;font-size:11.0pt;'
                    'font-family:"Calibri",sans-serif;} --></style></head><body lang="EN-US"><div class="WordSection1">'
                    f'<p class="MsoNormal">{new.replace(chr(10), "<br>")}</p><div style="border:none;border-top:'
                    f'solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p class="MsoNormal">'
                    f'{history.replace("<", "&lt;").replace(chr(10), "<br>")}</p></div></div></body></html>\n')
            body = _text_body(rng, text, html)
            extra += [("Thread-Topic", earlier), ("Thread-Index", base64.b64encode(rng.randbytes(22)).decode())]
        else:
            text = (f"{new}\n\nSent from my iPhone\n\n> On {when.strftime('%b %d, %Y, at %I:%M %p')}, {office} "
                    f"wrote:\n>\n{_quote(quoted)}\n")
            body = _text_body(rng, text, flowed=True)
            extra.append(("X-Mailer", "iPhone Mail (22B91)"))
        if rng.random() < 0.05:
            body = _attach(rng, body, large=True)
        domain = person.address.rsplit("@", 1)[1]
        raw = _assemble(self._headers(_address(person.name, person.address), to, subject,
                                      _message_id(rng, person.client, domain), when, extra), body)
        return Generated(raw, f"reply-{person.client}", "case", profile.sequence)

    def _follow_up(self) -> Generated:
        profile, rng = self._case(), self.rng
        person = profile.person
        text = (rng.choice(("I forgot to say: my phone number changed, it is now {p}.",
                            "One more thing - the office told me today to wait another 90 days. My number is {p}."))
                .format(p=person.phone) + f"\n\n{person.name}\n\nOn an earlier date, {person.name} wrote:\n> "
                + _fill(rng, rng.choice(profile.topic.paragraphs), person)[:120] + "\n")
        extra = [("In-Reply-To", profile.first_message_id), ("References", profile.first_message_id)]
        domain = person.address.rsplit("@", 1)[1]
        raw = _assemble(self._headers(_address(person.name, person.address), self.office, f"Re: {profile.subject}",
                                      _message_id(rng, person.client, domain), self.date, extra),
                        _text_body(rng, text))
        return Generated(raw, "follow-up", "case", profile.sequence)

    def _agency_rewritten_subject(self) -> Generated:
        profile, rng = self._case(), self.rng
        control = f"{self.start.year}-CI-{rng.randint(1000, 999999):06d}"
        subject = rng.choice((f"RESPONSE: Congressional Inquiry - Control No. {control}",
                              f"Congressional Inquiry Response - Control #{control}",
                              f"RE: Inquiry on behalf of {profile.person.name} [Control No. {control}]"))
        text = (f"Dear Representative Doe:\n\nThank you for your inquiry on behalf of {profile.person.name} "
                f"concerning {profile.topic.about.replace('your ', 'the constituent’s ')}.\n\n"
                "We have reviewed the record. The action your constituent requested was completed on "
                f"{_fill(rng, '{date}', profile.person)}, and a notice explaining the decision was mailed to the "
                "address we have on file. Any payment due will be issued within 30 days.\n\n"
                "If we can be of further assistance, please contact this office.\n\nSincerely,\n\n"
                + profile.topic.liaison.split(" <", 1)[0] + "\n")
        body = _text_body(rng, text)
        if rng.random() < 0.4:
            body = _attach(rng, body, large=rng.random() < 0.5)
        our = self._our_id(profile)
        liaison = profile.topic.liaison.rsplit("<", 1)[1].strip(">")
        raw = _assemble(self._headers(profile.topic.liaison, self.office, subject,
                                      f"<{rng.getrandbits(64):016x}@{liaison.split('@')[1]}>", self.date,
                                      [("In-Reply-To", our)]), body)
        return Generated(raw, "agency-rewritten-subject", "case", profile.sequence)

    def _ref_in_body_only(self) -> Generated:
        profile, rng = self._case(), self.rng
        person, ref = profile.person, profile.ref
        written = rng.choice((str(ref), str(ref).lower(), f"[{ref}]", ref.compact, str(ref).replace("-", " ")))
        text = (f"Hello,\n\nI am writing again about my case, number {written}. "
                + _fill(rng, rng.choice(profile.topic.paragraphs), person)
                + f"\n\nThank you,\n{_signature(person)}\n")
        domain = person.address.rsplit("@", 1)[1]
        raw = _assemble(self._headers(_address(person.name, person.address), self.office,
                                      rng.choice(("Question about my case", f"Update - {profile.subject}",
                                                  "Still waiting")),
                                      _message_id(rng, person.client, domain), self.date),
                        _text_body(rng, text))
        return Generated(raw, "ref-in-body-only", "case", profile.sequence)

    def _auto_reply(self) -> Generated:
        rng = self.rng
        extra = [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")]
        if rng.random() < 0.6:
            profile = self._case()
            if rng.random() < 0.5:  # the constituent's out-of-office answers our update
                person = profile.person
                sender = _address(person.name, person.address)
                subject = f"Automatic reply: [{profile.ref}] Update on your case"
                to = self.refs.plus_address(self.office, profile.ref)
            else:  # the agency liaison's out-of-office answers our inquiry
                sender, to = profile.topic.liaison, self.office
                subject = f"Automatic reply: Congressional inquiry on behalf of {profile.person.name}"
                extra.append(("In-Reply-To", self._our_id(profile)))
            text = "I am out of the office until Monday with limited access to email. I will respond on my return.\n"
            expect, sequence = "case", profile.sequence
        else:
            person = _person(rng)
            sender, to = _address(person.name, person.address), self.office
            subject = rng.choice(("Out of Office: Town hall meeting", "Automatic reply: Newsletter",
                                  "Auto-Reply: Your message"))
            text = "Thank you for your email. I am away and will reply when I return.\n"
            expect, sequence = "triage", None
        domain = sender.rsplit("@", 1)[1].strip(">")
        raw = _assemble(self._headers(sender, to, subject, f"<{rng.getrandbits(64):016x}@{domain}>", self.date, extra),
                        _text_body(rng, text))
        return Generated(raw, "auto-reply", expect, sequence)

    def _bounce(self) -> Generated:
        rng, date = self.rng, self.date
        if rng.random() < 0.7:
            profile = self._case()
            failed, message_id = profile.person.address, self._our_id(profile)
            returned = (f"From: {_address('Constituent Services', self.office)}\nTo: {failed}\n"
                        f"Subject: [{profile.ref}] We received your message\nDate: {format_datetime(date)}\n"
                        f"Message-ID: {message_id}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
                        f"{_ack_text(profile)}\n")
            expect, sequence = "case", profile.sequence
        else:  # backscatter: a spam run forged our address
            failed = f"{_token(rng, 8)}@{rng.choice(('example.net', 'example.com'))}"
            returned = (f"From: {self.office}\nTo: {failed}\nSubject: Your account has been suspended\n"
                        f"Date: {format_datetime(date)}\nMessage-ID: <{_token(rng, 20)}@{_token(rng, 8)}.example>\n\n"
                        "Click here to restore access.\n")
            expect, sequence = "triage", None
        mta = f"mta-{rng.randint(1, 40)}.{failed.rsplit('@', 1)[1]}"
        boundary = f"{_token(rng, 12).upper()}.{rng.randint(10**9, 10**10)}/{mta}"
        part = ("message/rfc822", returned) if rng.random() < 0.6 else (
            "text/rfc822-headers", returned.split("\n\n", 1)[0] + "\n")
        text = (f"Return-Path: <>\nDelivered-To: {self.office}\nReceived: by {MX} (Postfix)\n\tid "
                f"{_token(rng, 10).upper()}; {format_datetime(date)}\n"
                f"Date: {format_datetime(date)}\nFrom: MAILER-DAEMON@{mta} (Mail Delivery System)\n"
                f"Subject: Undelivered Mail Returned to Sender\nTo: {self.office}\nAuto-Submitted: auto-replied\n"
                f"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n"
                f'\tboundary="{boundary}"\nMessage-Id: <{date:%Y%m%d%H%M%S}.{_token(rng, 10).upper()}@{mta}>\n\n'
                f"This is a MIME-encapsulated message.\n\n--{boundary}\nContent-Description: Notification\n"
                f"Content-Type: text/plain; charset=us-ascii\n\nThis is the mail system at host {mta}.\n\n"
                "I'm sorry to have to inform you that your message could not\nbe delivered to one or more "
                f"recipients.\n\n<{failed}>: host {mta} said: 550 5.1.1 <{failed}>:\n    Recipient address "
                f"rejected: User unknown\n\n--{boundary}\nContent-Description: Delivery report\n"
                f"Content-Type: message/delivery-status\n\nReporting-MTA: dns; {mta}\nArrival-Date: "
                f"{format_datetime(date)}\n\nFinal-Recipient: rfc822; {failed}\nOriginal-Recipient: rfc822;{failed}\n"
                f"Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <{failed}>: User unknown\n\n"
                f"--{boundary}\nContent-Description: Undelivered Message\nContent-Type: {part[0]}\n\n{part[1]}\n"
                f"--{boundary}--\n")
        return Generated(text.encode(), "bounce", expect, sequence)

    def _list(self) -> Generated:
        rng = self.rng
        name, sender, list_id = rng.choice(LISTS)
        reader = _person(rng)
        stories = [f"<h2>{title}</h2><p>{_fill(rng, rng.choice(TOPICS).paragraphs[0], reader)}</p>"
                   for title in rng.sample(("This week in your county", "Benefits updates", "Events near you",
                                            "Ask the expert", "Scam alert", "Volunteer spotlight"), 4)]
        html = ('<html><body><table width="600" cellpadding="0" cellspacing="0" style="font-family:Arial">'
                + "".join(f'<tr><td style="padding:12px">{story}</td></tr>' for story in stories)
                + f'<tr><td><a href="https://{list_id}/unsubscribe?u={_token(rng, 24)}">Unsubscribe</a></td></tr>'
                "</table></body></html>\n")
        extra = [("List-Id", f"{name} <{list_id}>"), ("List-Unsubscribe", f"<https://{list_id}/u/{_token(rng, 24)}>"),
                 ("Precedence", "bulk")]
        subject = f"{name}: {rng.choice(('November', 'Weekly'))} edition"
        raw = _assemble(self._headers(_address(name, sender), self.office, subject,
                                      f"<{_token(rng, 24)}@{sender.rsplit('@', 1)[1]}>", self.date, extra),
                        _text_body(rng, "This newsletter is best viewed in HTML.\n", html))
        return Generated(raw, "list", "triage", None)

    def _duplicate(self) -> Generated:
        return Generated(self.rng.choice(self.recent), "duplicate", "duplicate", None)

    def _malformed(self) -> Generated:
        """Bytes the hub cannot read as mail; each distinct, since quarantine keeps one item per content."""
        self.malformed += 1
        kind = "empty" if self.malformed == 1 else self.rng.choice(("blank", "headerless", "trace-only"))
        if kind == "empty":
            raw = b""
        elif kind == "blank":
            raw = b"\r\n" * self.malformed
        elif kind == "headerless":  # a scanned PDF saved straight into the Maildir
            raw = _pdf(self.rng, self.rng.randint(2_000, 20_000))
        else:  # delivery cut short after the trace headers
            trace = _trace(self.rng, "example.net", self.office, self.date, provider=False)
            raw = "".join(f"{name}: {value}\n" for name, value in trace).encode()
        return Generated(raw, "malformed", "quarantine", None)

    def _forwarded_ref_stranger(self) -> Generated:
        profile, rng = self._case(), self.rng
        relative = _person(rng)
        text = (f"Hi, I'm {profile.person.name.split()[0]}'s {rng.choice(('son', 'daughter', 'neighbor', 'friend'))}. "
                "Could you tell me where this stands? They asked me to check.\n\n"
                f"---------- Forwarded message ---------\nFrom: Constituent Services <{self.office}>\n"
                f"Date: {format_datetime(self.date - timedelta(days=5))}\nSubject: [{profile.ref}] We received your "
                f"message\nTo: {profile.person.address}\n\n{_ack_text(profile)}\n")
        domain = relative.address.rsplit("@", 1)[1]
        raw = _assemble(self._headers(_address(relative.name, relative.address), self.office,
                                      f"Fwd: [{profile.ref}] We received your message",
                                      _message_id(rng, relative.client, domain), self.date),
                        _text_body(rng, text))
        return Generated(raw, "forwarded-ref-stranger", "triage", None)

    def _staff_reply(self) -> Generated:
        profile, rng = self._case(), self.rng
        name, address = rng.choice(STAFF)
        text = (rng.choice((f"{profile.person.name.split()[0]}, thank you. I have sent the inquiry to the agency "
                            "and will let you know as soon as I hear back.",
                            "I called the liaison this morning; they expect a decision within two weeks.",
                            "Could you send us a copy of the letter you received? A photo is fine."))
                + f"\n\n{name}\nCaseworker, {OFFICE_NAME}\n\n-----Original Message-----\n"
                + _quote(_fill(rng, rng.choice(profile.topic.paragraphs), profile.person)) + "\n")
        raw = _assemble(self._headers(_address(name, address), self.refs.plus_address(self.office, profile.ref),
                                      f"RE: [{profile.ref}] New message from {profile.person.name}",
                                      _message_id(rng, "outlook", self.office_domain), self.date),
                        _text_body(rng, text))
        return Generated(raw, "staff-reply", "case", profile.sequence)


def office_mailbox(n: int, refs: References, year: int, office_address: str = OFFICE_ADDRESS,
                   seed: int = 0) -> Iterator[Generated]:
    """`n` messages in arrival order, the same for the same (n, refs, year, office_address, seed)."""
    return iter(_Mailbox(n, refs, year, office_address, seed))


def _main(n: int) -> None:
    """Print the mix and sizes, and check that exactly the malformed messages fail to parse."""
    import logging
    from collections import Counter, defaultdict

    from hub.core.errors import QuarantineError
    from hub.intake.parse.email import parse_email

    logging.getLogger("mailparser").setLevel(logging.ERROR)  # it warns about every text/rfc822-headers part

    counts: Counter[tuple[str, str]] = Counter()
    sizes: defaultdict[str, list[int]] = defaultdict(list)
    problems = []
    for number, item in enumerate(office_mailbox(n, References("CW", "mailgen-demo-secret"), 2026)):
        counts[item.shape, item.expect] += 1
        sizes[item.shape].append(len(item.raw))
        try:
            parse_email(item.raw, "mailgen", 20 * 1024 * 1024)
            if item.expect == "quarantine":
                problems.append(f"#{number} {item.shape}: parsed, expected QuarantineError")
        except QuarantineError as error:
            if item.expect != "quarantine":
                problems.append(f"#{number} {item.shape}: {error}")
    print(f"{'shape':26} {'expect':11} {'count':>6} {'median KB':>10} {'max KB':>8}")
    for (shape, expect), count in sorted(counts.items()):
        values = sorted(sizes[shape])
        print(f"{shape:26} {expect:11} {count:6} {values[len(values) // 2] / 1024:10.1f} {values[-1] / 1024:8.1f}")
    every = sorted(s for v in sizes.values() for s in v)
    typical, large = sum(2048 <= s <= 10240 for s in every) / n, sum(s > 51200 for s in every) / n
    print(f"{n} messages, {sum(every) / 2**20:.1f} MB, median {every[len(every) // 2] / 1024:.1f} KB; "
          f"2-10 KB: {typical:.0%}; over 50 KB: {large:.0%}")
    print("parse check:", "ok" if not problems else "\n".join(problems[:20]))


if __name__ == "__main__":
    import sys

    _main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)

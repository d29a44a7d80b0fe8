"""Screening: what kind of mail is this, before anyone acts on it?

Auto-replies, bounces, mailing-list mail and the hub's own mail coming back are recorded where they
belong but never open a case or trigger anything (RFC 3834 §2, RFC 3464). The checks run in the order
of the tuple below; the first that fires decides.

Bounces are looked for before auto-reply markers: Exim, Gmail, Google Groups, Mail.ru and 1&1 put
`Auto-Submitted: auto-replied` on their non-delivery reports (61 of the 585 labelled bounces in the
sisimai corpus), and a bounce must yield the failed addresses, which an auto-reply verdict would drop.

Corpus measurements and the misses that remain are in tests/unit/test_screen_corpus.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message as EmailMessage
from email.utils import getaddresses
from functools import lru_cache
from typing import Callable, Iterator

from hub.intake.message import InboundMessage
from hub.refs import is_our_message_id

LOOP_HEADER = "X-Casework-Hub-Loop"
# Local parts MTAs send bounces from. `post_master` is Verizon's (sisimai lhost-verizon-02,
# lhost-apachejames-01); `mdaemon` is the MDaemon server's (flufl simple_01).
BOUNCE_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|post_master|mail-daemon|mail\.daemon|mdaemon|bounces?)([+@.-]|$)", re.I)
# Display names MTAs give that sender: Postfix and Exim "Mail Delivery System", Sendmail and Gmail "Mail
# Delivery Subsystem". They matter when the address is empty or bare: `From: MAILER-DAEMON <>` (DragonFly,
# sisimai lhost-dragonfly-*), `From: "" (Mail Delivery System)` (chatwoot bounced_with_no_from),
# `From: Mail Delivery System <example@mailer.com>` (sisimai mac/reported-from-nick4tech-san-01).
BOUNCE_NAMES = re.compile(r"^(mailer-daemon|mail delivery (sub)?system)$", re.I)
OUT_OF_OFFICE_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response)|out of (the )?office|respuesta autom[aá]tica|"
    r"fuera de la oficina|abwesenheitsnotiz|r[ée]ponse automatique|absence\s*:|"
    # Latvian Exchange 2003 out-of-office subject, "Ārpus biroja …" (bounce_email-gem non_bounces/tt_1234210666,
    # which has no marker header at all)
    r"[āa]rpus biroja)", re.I)
MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# RFC 3464 §2.3.3 Action values that mean the message got (or is still getting) through.
NOT_FAILED = frozenset({"delivered", "relayed", "expanded"})
# Where the notice of a free-text bounce ends and the returned message begins: a rule of dashes or
# underscores around a phrase (qmail "--- Below this line is a copy of the message.", Exim "------ This is
# a copy of the message, including all the headers. ------", Yahoo "--- Original message follows."), or a
# phrase ending in "follows". Addresses after it belong to the original, not to the failure.
RETURNED_MESSAGE = re.compile(
    r"^\s*([-_=*]{2,}.*\b(message|original|copy|headers?)\b|.*\b(original|returned|undelivered)\b.*\bfollows?\b)",
    re.I | re.M)
# A free-text delivery *warning*: the message is still queued and may yet arrive (flufl simple_03/21/35/40,
# Exim "Warning: message … delayed"). Nothing has failed yet, so no address is reported.
DELAY_WORDING = re.compile(
    r"\b(not yet been delivered|has been (delayed|postponed)|will (continue to )?(re)?try|"
    r"delivery attempts will continue|still being retried|this is (just )?a warning|advisory[- ]only)\b", re.I)


@dataclass(frozen=True)
class Screening:
    verdict: str  # "ok" | "auto-reply" | "bounce" | "list" | "own-mail"
    reason: str = ""
    failed_recipients: tuple[str, ...] = ()   # bounces: the addresses that failed
    returned_ids: tuple[str, ...] = ()        # bounces and auto-replies: Message-IDs of the mail they concern

    @property
    def is_automatic(self) -> bool:
        return self.verdict != "ok"


OK = Screening("ok")
Check = Callable[[InboundMessage, str], Screening | None]


def _own_mail(message: InboundMessage, office_domain: str) -> Screening | None:
    if message.header(LOOP_HEADER) is not None:
        return Screening("own-mail", f"carries our {LOOP_HEADER} header")
    if message.message_id and is_our_message_id(message.message_id, office_domain):
        return Screening("own-mail", "Message-ID is one the hub generated")
    return None


def _delivery_report(message: InboundMessage, _domain: str) -> Screening | None:
    if message.content_type == "multipart/report" and message.report_type in ("feedback-report",
                                                                               "disposition-notification"):
        # RFC 5965 abuse reports and RFC 8098 read receipts: automatic, but nothing failed.
        return Screening("auto-reply", f"{message.report_type} report", returned_ids=_returned_ids(message))
    is_report = message.content_type == "multipart/report" and message.report_type == "delivery-status"
    parsed = _mime(message.raw)
    # A message/delivery-status part marks a DSN even when the MTA wrapped it in multipart/mixed
    # (McAfee Email Gateway, sisimai lhost-mcafee-*).
    if not is_report and not any(part.get_content_type() == "message/delivery-status" for part in parsed.walk()):
        return None
    actions = {action for action, _ in _status_blocks(parsed)}
    if actions and actions <= NOT_FAILED:
        # A DSN reporting success (RFC 3464 §2.3.3 Action: delivered/relayed/expanded; sisimai rfc3464-28,
        # lhost-amazonses-12/13): automatic mail, but not a bounce.
        return Screening("auto-reply", f"delivery success notification (Action: {', '.join(sorted(actions))})",
                         returned_ids=_returned_ids(message))
    if actions and "failed" not in actions:
        return _bounce(message, "delivery delayed, not failed (RFC 3464 Action: delayed)", free_text=False)
    return _bounce(message, "delivery status report (RFC 3464)")


def _bounce_sender(message: InboundMessage, _domain: str) -> Screening | None:
    for name, address in _from_addresses(message):
        local = address.split("@", 1)[0]
        if BOUNCE_SENDERS.match(local):
            return _bounce(message, f"sent by {local}")
        if BOUNCE_NAMES.match(name):
            return _bounce(message, f"sent by {name}")
    # Exim adds X-Failed-Recipients to its bounces and to nothing else.
    if message.header("x-failed-recipients"):
        return _bounce(message, "X-Failed-Recipients header")
    return None


def _auto_submitted(message: InboundMessage, _domain: str) -> Screening | None:
    value = (message.header("auto-submitted") or "").strip().lower()
    if value and not value.startswith("no"):
        return Screening("auto-reply", f"Auto-Submitted: {value.split(';')[0]}", returned_ids=_returned_ids(message))
    # X-Auto-Response-Suppress is required by the issue. In the corpus it occurs only on two Exchange
    # auto-replies (sisimai rfc3834-02/04) that X-MS-Exchange-Inbox-Rules-Loop and the subject catch anyway;
    # Outlook also sets it on some ordinary mail, which this rule would then treat as automatic.
    for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress", "x-autogenerated"):
        if message.header(name) is not None:
            return Screening("auto-reply", f"{name} header", returned_ids=_returned_ids(message))
    if (message.header("x-ms-exchange-inbox-rules-loop") or message.header("x-ms-exchange-generated-message-source")
            or OUT_OF_OFFICE_SUBJECT.match(message.subject)):
        return Screening("auto-reply", "out-of-office reply", returned_ids=_returned_ids(message))
    return None


def _precedence(message: InboundMessage, _domain: str) -> Screening | None:
    value = (message.header("precedence") or "").strip().lower()
    if value in ("bulk", "junk", "list", "auto_reply"):
        verdict = "list" if value in ("bulk", "list") else "auto-reply"
        return Screening(verdict, f"Precedence: {value}", returned_ids=_returned_ids(message))
    return None


def _mailing_list(message: InboundMessage, _domain: str) -> Screening | None:
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if message.header(name) is not None:
            return Screening("list", f"mailing-list mail ({name})")
    return None


def _empty_return_path(message: InboundMessage, _domain: str) -> Screening | None:
    # A null reverse-path (RFC 5321 §4.5.5) marks a notification that must not be answered.
    if message.return_path == "":
        return _bounce(message, "empty Return-Path")
    return None


CHECKS: tuple[Check, ...] = (
    _own_mail, _delivery_report, _bounce_sender, _auto_submitted, _precedence, _mailing_list, _empty_return_path,
)


def screen(message: InboundMessage, office_domain: str) -> Screening:
    """The first check that fires decides; mail that passes them all is `ok`."""
    for check in CHECKS:
        verdict = check(message, office_domain)
        if verdict is not None:
            return verdict
    return OK


@lru_cache(maxsize=4)
def _mime(raw: bytes) -> EmailMessage:
    """The stdlib's tree of the message, for the parts InboundMessage does not keep (parsed once per message)."""
    return message_from_bytes(raw, policy=policy.compat32)


def _from_addresses(message: InboundMessage) -> list[tuple[str, str]]:
    """(display name, address) pairs of From, plus the parsed sender: bare and empty addresses kept."""
    pairs = [(name.strip(), address.strip()) for name, address in getaddresses(message.header_values("from"))]
    return pairs + [(message.sender_name, message.sender)]


def _bounce(message: InboundMessage, reason: str, free_text: bool = True) -> Screening:
    parsed = _mime(message.raw)
    failed = _failed_recipients(parsed, message, free_text)
    return Screening("bounce", reason, failed_recipients=failed, returned_ids=_returned_ids(message, parsed))


def _status_blocks(parsed: EmailMessage) -> Iterator[tuple[str, str]]:
    """(action, recipient address) for each per-recipient block of each message/delivery-status part."""
    for part in parsed.walk():
        if part.get_content_type() != "message/delivery-status" or not part.is_multipart():
            continue
        for block in part.get_payload():
            recipient = str(block.get("final-recipient") or block.get("original-recipient") or "")
            action = str(block.get("action") or "").strip().lower()
            if not action and not recipient:
                continue  # the per-message block (Reporting-MTA, Arrival-Date)
            # Final-Recipient is "type; address" (RFC 3464 §2.3.2); some MTAs drop the type.
            address = recipient.split(";", 1)[-1].strip().strip("<>").strip().lower()
            yield action or "failed", address


def _failed_recipients(parsed: EmailMessage, message: InboundMessage, free_text: bool) -> tuple[str, ...]:
    """Failed addresses: X-Failed-Recipients (Exim), Action: failed blocks (RFC 3464), else the notice text."""
    found: dict[str, None] = {}
    for value in message.header_values("x-failed-recipients"):
        for _, address in getaddresses([value]):
            if "@" in address:
                found[address.strip().lower()] = None
    blocks = list(_status_blocks(parsed))
    for action, address in blocks:
        if action == "failed" and "@" in address:
            found[address] = None
    if not found and not blocks and free_text:
        found.update(dict.fromkeys(_notice_addresses(parsed, message)))
    return tuple(found)


def _notice_addresses(parsed: EmailMessage, message: InboundMessage) -> list[str]:
    """Addresses in a free-text bounce's own notice (not in the returned original, not the bounce's own
    From/To, not postmaster-style addresses), unless the notice is only a delay warning."""
    notice = _notice_text(parsed)
    if DELAY_WORDING.search(notice) or DELAY_WORDING.search(message.subject):
        return []
    own = {address.lower() for _, address in getaddresses(
        message.header_values("from") + message.header_values("to") + message.header_values("return-path"))}
    own.update(message.recipients)
    found: dict[str, None] = {}
    for match in ADDRESS.finditer(notice):
        address = match.group(0).strip(".").lower()
        if address not in own and not BOUNCE_SENDERS.match(address):
            found[address] = None
    return list(found)


def _notice_text(parsed: EmailMessage) -> str:
    """The bounce's own text/plain parts (not those of an attached original), cut where a returned copy starts."""
    texts = []
    stack = [parsed]
    while stack:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if content_type.startswith("message/") or content_type == "text/rfc822-headers":
            continue  # the returned original: its addresses are not the failed ones
        if part.is_multipart():
            payload = part.get_payload()
            stack[:0] = payload if isinstance(payload, list) else []
        elif content_type == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                texts.append(data.decode(part.get_content_charset() or "latin-1", "replace")
                             if _known_charset(part.get_content_charset()) else data.decode("latin-1"))
    text = "\n".join(texts)
    marker = RETURNED_MESSAGE.search(text)
    return text[:marker.start()] if marker else text


def _known_charset(charset: str | None) -> bool:
    if not charset:
        return True
    try:
        "".encode(charset)
    except LookupError:
        return False
    return True


def _returned_ids(message: InboundMessage, parsed: EmailMessage | None = None) -> tuple[str, ...]:
    """Message-IDs of the mail this notice is about: its In-Reply-To/References, then the returned headers."""
    ids: dict[str, None] = dict.fromkeys(message.thread_ids)
    if parsed is None and message.content_type != "multipart/report":
        return tuple(ids)
    parsed = parsed or _mime(message.raw)
    for part in parsed.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else payload
            text = inner.as_string() if isinstance(inner, EmailMessage) else str(inner or "")
            header_block = text.split("\n\n", 1)[0]
            for line in header_block.splitlines():
                if line.lower().startswith(("message-id:", "in-reply-to:", "references:")):
                    ids.update(dict.fromkeys(MESSAGE_ID.findall(line)))
    return tuple(ids)

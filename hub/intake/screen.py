"""Screening: what kind of mail is this, before anyone acts on it?

Auto-replies, bounces, mailing-list mail and the hub's own mail coming back are recorded where they
belong but never open a case or trigger anything (RFC 3834 §2, RFC 3464). The checks run in the order
of the tuple below; the first that fires decides.

Bounces are looked for before auto-reply markers: Exim, Gmail, Google Groups, Mail.ru and 1&1 put
`Auto-Submitted: auto-replied` on their non-delivery reports (61 of the 585 labelled bounces in the
sisimai corpus), and a bounce must yield the failed addresses, which an auto-reply verdict would drop.
A bounce needs a delivery report, a bounce sender, or a notice saying a message could not be delivered:
an empty Return-Path alone (spammers send from `<>` too) makes an automatic notification, not a bounce.

Corpus measurements and the misses that remain are in tests/unit/test_screen_corpus.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message as EmailMessage
from functools import lru_cache

from hub.core.refs import is_our_message_id
from hub.core.robot_addresses import BOUNCE_SENDERS
from hub.intake.automatic import automatic_marker, has_loop_marker
from hub.intake.bounce_notice import (
    ADDRESS,
    NOTICE_LIMIT,
    decoded,
    is_failure_notice,
    notice_addresses,
)
from hub.intake.message import InboundMessage, address_pairs
from hub.letters.loop_header import LOOP_HEADER

# Display names MTAs give the bounce sender (BOUNCE_SENDERS): Postfix and Exim "Mail Delivery System",
# Sendmail and Gmail "Mail Delivery Subsystem". They matter when the address is empty or bare:
# `From: MAILER-DAEMON <>` (DragonFly, sisimai lhost-dragonfly-*), `From: "" (Mail Delivery System)`
# (chatwoot bounced_with_no_from), `From: Mail Delivery System <example@mailer.com>` (sisimai
# mac/reported-from-nick4tech-san-01).
BOUNCE_NAMES = re.compile(r"^(mailer-daemon|mail delivery (sub)?system)$", re.I)
OUT_OF_OFFICE_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response)|out of (the )?office|respuesta autom[aá]tica|"
    r"fuera de la oficina|abwesenheitsnotiz|r[ée]ponse automatique|absence\s*:|"
    # Latvian Exchange 2003 out-of-office subject, "Ārpus biroja …" (bounce_email-gem non_bounces/tt_1234210666,
    # which has no marker header at all)
    r"[āa]rpus biroja)", re.I)
MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]{1,900}@[^<>\s\x00-\x1f\x7f]{1,90}>")
MAX_RETURNED_IDS = 100  # the nearest; thread.MAX_THREAD_IDS looks at no more
DELIVERY_STATUS = re.compile(rb"message/delivery-status", re.I)
# RFC 3464 §2.3.3 Action values that mean the message got through, plus Postfix's "deliverable" from an
# address-verification report (`sendmail -bv`, sisimai rfc3464-28).
NOT_FAILED = frozenset({"delivered", "relayed", "expanded", "deliverable"})
# A Message-ID (or In-Reply-To/References) line of an original pasted into a free-text bounce, possibly indented.
RETURNED_HEADER = re.compile(r"^[ \t>]*(?:message-id|in-reply-to|references):[ \t]*(.*)$", re.I | re.M)
RETURNED_SUBJECT = re.compile(r"^[ \t>]*subject:[ \t]*(.*)$", re.I | re.M)


@dataclass(frozen=True)
class Screening:
    verdict: str  # "ok" | "auto-reply" | "bounce" | "list" | "own-mail"
    reason: str = ""
    failed_recipients: tuple[str, ...] = ()   # bounces: the addresses that failed
    returned_ids: tuple[str, ...] = ()        # bounces and auto-replies: Message-IDs of the mail they concern
    #                                           (the nearest MAX_RETURNED_IDS)
    returned_subjects: tuple[str, ...] = ()   # bounces: the Subject lines of the returned message's headers

    @property
    def is_automatic(self) -> bool:
        return self.verdict != "ok"


OK = Screening("ok")
Check = Callable[[InboundMessage, str], Screening | None]


E164 = re.compile(r"^\+\d{6,15}$")


def _robot_text(message: InboundMessage, _domain: str) -> Screening | None:
    # Short codes and alphanumeric senders are carriers' and companies' robots: answering them starts loops.
    if not E164.match(message.sender):
        return Screening("auto-reply", "text from a short code or an alphanumeric sender, not a person's number")
    return None


def _own_mail(message: InboundMessage, office_domain: str) -> Screening | None:
    if message.header(LOOP_HEADER) is not None:
        return Screening("own-mail", f"carries our {LOOP_HEADER} header")
    if message.message_id and is_our_message_id(message.message_id, office_domain):
        return Screening("own-mail", "Message-ID is one the hub generated")
    return None


def _delivery_report(message: InboundMessage, domain: str) -> Screening | None:
    is_report = message.content_type == "multipart/report" and message.report_type == "delivery-status"
    if not is_report and not DELIVERY_STATUS.search(message.raw):
        return None  # cheap byte scan first: most mail is never parsed a second time
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
                         returned_ids=_returned_ids(message, parsed))
    if actions and "failed" not in actions:
        return _bounce(message, "delivery delayed, not failed (RFC 3464 Action: delayed)", domain, free_text=False)
    return _bounce(message, "delivery status report (RFC 3464)", domain)


def _bounce_sender(message: InboundMessage, domain: str) -> Screening | None:
    for name, address in _from_addresses(message):
        local = address.split("@", 1)[0]
        if BOUNCE_SENDERS.match(local):
            return _bounce(message, f"sent by {local}", domain)
        if BOUNCE_NAMES.match(name):
            return _bounce(message, f"sent by {name}", domain)
    # The envelope sender (Return-Path) of a bounce relayed on by another host is the MTA's own
    # (`<MAILER-DAEMON@sb7.songbird.com>`, flufl simple_10/15/21/25).
    local = (message.return_path or "").split("@", 1)[0]
    if BOUNCE_SENDERS.match(local) and not local.lower().startswith("bounce"):
        return _bounce(message, f"Return-Path {local}", domain)
    # Exim adds X-Failed-Recipients to its bounces and to nothing else.
    if message.header("x-failed-recipients"):
        return _bounce(message, "X-Failed-Recipients header", domain)
    return None


def _other_report(message: InboundMessage, _domain: str) -> Screening | None:
    # RFC 5965 abuse reports and RFC 8098 read receipts: automatic, but nothing failed. After the sender
    # check, so that a rejection notice sent as an MDN by "Mail Delivery Subsystem" (flufl simple_38)
    # still counts as a bounce.
    if message.content_type == "multipart/report" and message.report_type in ("feedback-report",
                                                                               "disposition-notification"):
        return Screening("auto-reply", f"{message.report_type} report", returned_ids=_returned_ids(message))
    return None


def _auto_submitted(message: InboundMessage, domain: str) -> Screening | None:
    # RFC 3834 §5: any Auto-Submitted value but "no" (comments after ";" allowed) marks automatic mail.
    value = (message.header("auto-submitted") or "").split(";")[0].strip().lower()
    if value and value != "no":
        return Screening("auto-reply", f"Auto-Submitted: {value}", returned_ids=_returned_ids(message))
    marker = automatic_marker(message, domain)
    if marker is not None:
        return Screening("auto-reply", f"{marker} header", returned_ids=_returned_ids(message))
    if (message.header("x-ms-exchange-inbox-rules-loop") or message.header("x-ms-exchange-generated-message-source")
            or OUT_OF_OFFICE_SUBJECT.match(message.subject)):
        return Screening("auto-reply", "out-of-office reply", returned_ids=_returned_ids(message))
    return None


def _precedence(message: InboundMessage, _domain: str) -> Screening | None:
    # X-Precedence is the same field under the name osTicket and FreeScout also read.
    for name in ("precedence", "x-precedence"):
        value = (message.header(name) or "").strip().lower()
        if value in ("bulk", "junk", "list", "auto_reply"):
            verdict = "list" if value in ("bulk", "list") else "auto-reply"
            return Screening(verdict, f"{name.capitalize()}: {value}", returned_ids=_returned_ids(message))
    return None


def _mailing_list(message: InboundMessage, _domain: str) -> Screening | None:
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if message.header(name) is not None:
            return Screening("list", f"mailing-list mail ({name})")
    return None


def _loop(message: InboundMessage, domain: str) -> Screening | None:
    # The reason leaves the value out: it is often an address, and reasons are logged.
    if has_loop_marker(message, domain):
        return Screening("auto-reply", "X-Loop header: automatic mail, a loop if answered",
                         returned_ids=_returned_ids(message))
    return None


def _null_sender(message: InboundMessage, domain: str) -> Screening | None:
    """A null reverse-path (RFC 5321 §4.5.5) marks a notification that must not be answered. A bounce is one
    (the report and sender checks before this one found the others) when its text says a message could not
    be delivered; anything else from `<>`, spam included, is an automatic notification: recorded, never
    answered, and no address marked bounced (RT's CheckForAutoGenerated also reads `<>` as automatic)."""
    if message.return_path != "":
        return None
    if is_failure_notice(message, _mime(message.raw)):
        return _bounce(message, "empty Return-Path and a delivery-failure notice", domain)
    return Screening("auto-reply", "empty Return-Path: an automatic notification (RFC 5321 §4.5.5)",
                     returned_ids=_returned_ids(message))


CHECKS: tuple[Check, ...] = (
    _own_mail, _delivery_report, _bounce_sender, _other_report, _auto_submitted, _precedence,
    _mailing_list, _loop, _null_sender,
)
SMS_CHECKS: tuple[Check, ...] = (_robot_text,)  # a text has no headers: the mail checks have nothing to read


def screen(message: InboundMessage, office_domain: str) -> Screening:
    """The first check that fires decides; mail that passes them all is `ok`."""
    for check in SMS_CHECKS if message.channel == "sms" else CHECKS:
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
    pairs = [(name.strip(), address.strip()) for name, address in address_pairs(message.header_values("from"))]
    return pairs + [(message.sender_name, message.sender)]


def _bounce(message: InboundMessage, reason: str, domain: str, free_text: bool = True) -> Screening:
    parsed = _mime(message.raw)
    failed = _failed_recipients(parsed, message, domain, free_text)
    return Screening("bounce", reason, failed_recipients=failed, returned_ids=_returned_ids(message, parsed),
                     returned_subjects=_returned_subjects(parsed))


def _status_blocks(parsed: EmailMessage) -> Iterator[tuple[str, str]]:
    """(action, address) for each per-recipient block of each message/delivery-status part.

    The address is the one the sender used, Original-Recipient (RFC 3464 §2.3.1), when it is an Internet
    address, else Final-Recipient (§2.3.2): after forwarding or an X.400 gateway the final one is a local
    alias (`userx@sims-ms-daemon`, flufl dsn_01) or not an address at all (`x400; /S=…`, flufl dsn_02)."""
    for part in parsed.walk():
        if part.get_content_type() != "message/delivery-status" or not part.is_multipart():
            continue
        for block in part.get_payload():
            if not isinstance(block, EmailMessage):
                continue
            if not any(block.get(name) for name in ("action", "final-recipient", "original-recipient")):
                continue  # the per-message block (Reporting-MTA, Arrival-Date)
            address = _typed_address(block.get("original-recipient")) or _typed_address(block.get("final-recipient"))
            yield _action(block), address


def _typed_address(value: object) -> str:
    """The address of an `address-type; address` field when the type is rfc822 (or left out)."""
    kind, _, address = str(value or "").rpartition(";")
    if kind.strip() and kind.strip().lower() != "rfc822":
        return ""
    address = address.strip().strip("<>").strip().lower()
    return address if ADDRESS.fullmatch(address) else ""  # not `|/usr/bin/prog user@host` (sisimai lhost-exim-44)


def _action(block: EmailMessage) -> str:
    """RFC 3464 §2.3.3 Action, with the spellings MTAs use instead of "failed": "failure" (flufl dsn_03),
    "error" (dsn_18), "failed (Bad destination mailbox address)" (dsn_12). Without an Action, the Status
    class decides (RFC 3463: 2 success, 4 transient, 5 permanent)."""
    words = str(block.get("action") or "").strip().lower().split()
    action = words[0].strip("(;,") if words else ""
    if action in ("failure", "error", "undeliverable"):
        return "failed"
    if action:
        return action
    status = str(block.get("status") or "").strip()
    return {"2": "delivered", "4": "delayed"}.get(status[:1], "failed")


def _failed_recipients(parsed: EmailMessage, message: InboundMessage, domain: str,
                       free_text: bool) -> tuple[str, ...]:
    """Failed addresses: X-Failed-Recipients (Exim), Action: failed blocks (RFC 3464), else the notice text."""
    found: dict[str, None] = {}
    for value in message.header_values("x-failed-recipients"):
        for _, address in address_pairs([value]):
            if "@" in address:
                found[address.strip().lower()] = None
    blocks = list(_status_blocks(parsed))
    for action, address in blocks:
        if action == "failed" and "@" in address:
            found[address] = None
    if not found and not blocks and free_text:
        found.update(dict.fromkeys(notice_addresses(parsed, message, domain)))
    return tuple(found)


def _returned_subjects(parsed: EmailMessage) -> tuple[str, ...]:
    """Subject lines of the returned original: its headers part, or header lines pasted into the notice."""
    found: dict[str, None] = {}
    for part in parsed.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else payload
            if isinstance(inner, EmailMessage):
                found[str(inner.get("subject", ""))] = None
            else:
                found.update(dict.fromkeys(RETURNED_SUBJECT.findall(str(inner or ""))))
        elif content_type == "text/plain":
            found.update(dict.fromkeys(RETURNED_SUBJECT.findall(decoded(part)[:NOTICE_LIMIT])))
    return tuple(subject.strip()[:500] for subject in found if subject.strip())[:10]


def _returned_ids(message: InboundMessage, parsed: EmailMessage | None = None) -> tuple[str, ...]:
    """Message-IDs of the mail this notice is about: its In-Reply-To/References, then the returned headers."""
    ids: dict[str, None] = dict.fromkeys(message.thread_ids)
    if parsed is None and message.content_type != "multipart/report":
        return tuple(ids)[:MAX_RETURNED_IDS]
    parsed = parsed or _mime(message.raw)
    for part in parsed.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else payload
            if isinstance(inner, EmailMessage):
                for name, value in inner.items():
                    if name.lower() in ("message-id", "in-reply-to", "references"):
                        ids.update(dict.fromkeys(MESSAGE_ID.findall(str(value))))
            else:  # headers only, as text
                header_block = str(inner or "").replace("\r\n", "\n").split("\n\n", 1)[0]
                for match in RETURNED_HEADER.finditer(header_block):
                    ids.update(dict.fromkeys(MESSAGE_ID.findall(match.group(1))))
        elif content_type == "text/plain":
            # Free-text bounces paste the original's headers into the notice (qmail, Exim, Yahoo).
            for match in RETURNED_HEADER.finditer(decoded(part)):
                ids.update(dict.fromkeys(MESSAGE_ID.findall(match.group(1))))
    ids.pop(message.message_id or "", None)
    return tuple(ids)[:MAX_RETURNED_IDS]

"""The free-text notice of a bounce: its own words without the returned copy, the addresses it says failed,
and whether it tells of a message that could not be delivered.

Used by hub.intake.screen for bounces without a machine-readable report (qmail, Exim, Yahoo, Exchange's
text NDRs) and for mail from the null sender, which is a bounce only when its notice says so.
"""

from __future__ import annotations

import re
from email.message import Message as EmailMessage

from inscriptis import get_text

from hub.core.robot_addresses import BOUNCE_SENDERS
from hub.intake.message import InboundMessage, address_pairs

# Deliberately narrower than RFC 5322: in notice text `smtp=user@host` (Exchange) and `'user@host'` must
# yield user@host.
# Each part is bounded (RFC 5321 §4.5.3.1) and a match starts only where a word starts: on a line of a
# million word characters an unbounded pattern tries every start and every length before giving up.
ADDRESS = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
# Where the notice of a free-text bounce ends and the returned message begins: a rule of dashes or
# underscores around a phrase (qmail "--- Below this line is a copy of the message.", Exim "------ This is
# a copy of the message, including all the headers. ------", Yahoo "--- Original message follows."), or a
# phrase ending in "follows". Addresses after it belong to the original, not to the failure.
RETURNED_MESSAGE = re.compile(
    r"^\s*([-_=]{2,}.{0,200}?\b(original|copy|returned|unsent|undelivered|headers?|below)\b"
    r"|.{0,200}?\b(original|returned|undelivered|message|headers?)\b.{0,200}?\bfollows?\b"
    r"|(original|returned|unsent|undelivered) message\b)", re.I | re.M)
# A header-style line inside a notice ("  To:      list@example.org" in an Exchange NDR, "* From: …"): it
# describes the original message, not the failure.
NOTICE_HEADER_LINE = re.compile(
    r"^[ \t*>]*(to|cc|from|sent|date|subject|reply-to|return-path|message-id|in-reply-to|references|received)"
    r"[ \t]*:.*$", re.I | re.M)
# A free-text delivery *warning*: the message is still queued and may yet arrive (flufl simple_03/21/35/40,
# Exim "Warning: message … delayed"). Nothing has failed yet, so no address is reported.
DELAY_WORDING = re.compile(
    r"\b(not yet been delivered|has been (delayed|postponed)|will (continue to )?(re)?try|"
    r"delivery attempts will continue|still being retried|this is (just )?a warning|advisory[- ]only)\b", re.I)
# What a free-text notice says when a message did not get through (Postfix, qmail, OpenSMTPD, Verizon's MMSC,
# KDDI, m-FILTER: the sisimai samples sent from `<>` by no bounce-looking sender).
FAILURE_WORDING = re.compile(
    r"\b(undeliver(able|ed)|(could|can) ?not be delivered|couldn't be delivered|was not delivered|"
    r"delivery (has )?failed|failed to deliver|delivery failure|failure notice|returned mail|"
    r"permanent (error|failure)|user unknown|no such user|mailbox (is )?(full|unavailable)|"
    r"error has occurred while attempting to deliver)\b", re.I)
# A delivery notice is a few kilobytes; what a bounce carries past this is not read for failed addresses.
NOTICE_LIMIT = 100_000
RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers")


def is_failure_notice(message: InboundMessage, parsed: EmailMessage) -> bool:
    """Failure wording in the subject or the notice, about a message returned with it: attached, pasted after
    a "copy of the message" line, or its header lines pasted in (OpenSMTPD, Verizon's MMSC). An address
    alone is not enough: spam says "delivery failed" and names one too."""
    text = notice_text(parsed, cut=False)
    returned = RETURNED_MESSAGE.search(text)
    notice = text[:returned.start()] if returned else text
    if not FAILURE_WORDING.search(message.subject) and not FAILURE_WORDING.search(notice):
        return False
    return (returned is not None or len(NOTICE_HEADER_LINE.findall(text)) >= 2
            or any(part.get_content_type() in RETURNED_TYPES for part in parsed.walk()))


def notice_addresses(parsed: EmailMessage, message: InboundMessage, domain: str) -> list[str]:
    """Addresses in a free-text bounce's own notice, unless the notice is only a delay warning. Left out:
    the returned original, header-style lines, the bounce's own From/To/Cc/Return-Path/Delivered-To,
    postmaster-style addresses and the office's own domain (a plus-address of ours as envelope sender
    must never be marked bounced). X-Original-To is not left out: DragonFly Mail Agent puts the failed
    address there (sisimai lhost-dragonfly-*)."""
    notice = notice_text(parsed)
    if DELAY_WORDING.search(notice) or DELAY_WORDING.search(message.subject):
        return []
    own_headers = [value for name in ("from", "to", "cc", "return-path", "delivered-to")
                   for value in message.header_values(name)]
    own = {address.strip().lower() for _, address in address_pairs(own_headers)}
    found: dict[str, None] = {}
    for match in ADDRESS.finditer(NOTICE_HEADER_LINE.sub("", notice)):
        address = match.group(0).strip(".").lower()
        if address not in own and not BOUNCE_SENDERS.match(address) and \
                address.rsplit("@", 1)[1] != domain.lower():
            found[address] = None
    return list(found)


def notice_text(parsed: EmailMessage, cut: bool = True) -> str:
    """The bounce's own text/plain parts (not those of an attached original), cut where a returned copy starts."""
    texts: list[str] = []
    html: list[str] = []
    stack = [parsed]
    while stack:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if content_type.startswith("message/") or content_type == "text/rfc822-headers":
            continue  # the returned original: its addresses are not the failed ones
        if part.is_multipart():
            payload = part.get_payload()
            children = payload if isinstance(payload, list) else []
            stack[:0] = [child for child in children if isinstance(child, EmailMessage)]
        elif content_type == "text/plain":
            texts.append(decoded(part))
        elif content_type == "text/html":
            html.append(decoded(part))
    if not texts and html:  # an HTML-only notice (sisimai lhost-x6-*, flufl groupwise_02, yahoo_12)
        texts = [get_text(page) for page in html]
    text = "\n".join(texts).replace("\r\n", "\n").replace("\r", "\n")  # CR-only mail (sisimai maildir/mac)
    text = text[:NOTICE_LIMIT]
    marker = RETURNED_MESSAGE.search(text) if cut else None
    return text[:marker.start()] if marker else text


def decoded(part: EmailMessage) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    try:
        return data.decode(part.get_content_charset() or "latin-1", "replace")
    except (LookupError, ValueError):  # an unknown charset name, e.g. "uft-8" (sisimai lhost-x3-*), or one
        # with a NUL in it, which the codec lookup refuses with ValueError
        return data.decode("latin-1")

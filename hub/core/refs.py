"""Case references: make, find, verify, and redact them in logs.

A reference looks like `CW-26-00042-K7`: the office prefix, the two-digit year, a sequence number
and a two-character check code keyed by the office secret. Without the secret a guessed or mistyped
reference fails verification, so it can never attach a message to somebody else's case by chance.

Two characters are for people: short enough to read over the phone, but one in 961 guesses passes. So
the tokens only machines carry also carry a long code (20 base-32 characters, 100 bits, keyed by the
same secret): the plus-address `casework+cw2600042k7.<code>@…` and the Message-IDs the hub generates,
`<hub.cw2600042k7.<code>.<random>@domain>`. Tokens in the older form (no long code) still verify as
people's references. Every reference-shaped token a message carries is found and judged, not only the
first that verifies: deciding what the tokens of one message mean is hub.intake.thread's job.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

# No 0/O, 1/I/L: the code is read aloud over the phone and typed from paper letters.
CHECK_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MESSAGE_ID_MARK = "hub."
TOKEN_LENGTH = 20  # base-32 characters of the long code: 100 bits
TOKEN_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")
# The envelope sender of each letter (VERP): `casework+bounce-<outbox row>.<long code>@…`, so that a bounce
# names the letter it is about by the address it comes back to. The dash keeps it apart from a reference.
BOUNCE_MARK = "bounce-"
# Reference-shaped tokens of any office (another prefix, another secret): found only to be looked up among the
# references other offices gave the cases imported here (hub.cases.forwarding), never verified.
_ANY_TEXT = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,10}[-\s]?\d{2}[-\s]?\d{5,7}[-\s]?[A-Za-z0-9]{2}(?![A-Za-z0-9])")
_ANY_COMPACT = re.compile(r"^[a-z]{1,10}\d{7,9}[a-z0-9]{2}$")
MAX_TOKEN_KEYS = 20  # a message listing more reference-shaped tokens is looked up by its first ones


@dataclass(frozen=True)
class Reference:
    prefix: str
    year: int  # two digits
    sequence: int
    check: str

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year:02d}-{self.sequence:05d}-{self.check}"

    @property
    def compact(self) -> str:
        """The form used in addresses and Message-IDs: lowercase, no dashes."""
        return f"{self.prefix}{self.year:02d}{self.sequence:05d}{self.check}".lower()


@dataclass(frozen=True)
class Candidate:
    """A reference-shaped token found in a message, whether or not it verified."""

    written: str                    # as it appeared, for the reason a message is held
    reference: Reference | None     # None when its check code (or long code) failed
    keyed: bool = False             # it carried the long code: only the hub's own mail has that

    @property
    def verified(self) -> bool:
        return self.reference is not None


class References:
    """Makes and recognises the references of one office (one prefix, one secret)."""

    def __init__(self, prefix: str, secret: str) -> None:
        self.prefix = prefix.upper()
        self._key = secret.encode()
        p = re.escape(self.prefix)
        self._text = re.compile(
            rf"(?<![A-Za-z0-9])({p})[-\s]?(\d{{2}})[-\s]?(\d{{5,7}})[-\s]?([A-Za-z0-9]{{2}})(?![A-Za-z0-9])",
            re.IGNORECASE,
        )
        self._compact = re.compile(rf"^({p})(\d{{2}})(\d{{5,7}})([a-z0-9]{{2}})$", re.IGNORECASE)

    def check_code(self, year: int, sequence: int) -> str:
        digest = hmac.new(self._key, f"{self.prefix}-{year:02d}-{sequence}".encode(), hashlib.sha256).digest()
        n = len(CHECK_ALPHABET)
        return CHECK_ALPHABET[digest[0] % n] + CHECK_ALPHABET[digest[1] % n]

    def make(self, year: int, sequence: int) -> Reference:
        year %= 100
        return Reference(self.prefix, year, sequence, self.check_code(year, sequence))

    def verify(self, candidate: Reference) -> bool:
        return candidate.prefix == self.prefix and hmac.compare_digest(
            candidate.check, self.check_code(candidate.year, candidate.sequence))

    def parse(self, text: str) -> Reference | None:
        """A verified reference written out in full (`CW-26-00042-K7`, any case), else None."""
        match = self._text.fullmatch(text.strip().strip("[]"))
        return self._verified(match) if match else None

    def find_in_text(self, text: str) -> Reference | None:
        """The first verified reference anywhere in a subject or body."""
        return next((c.reference for c in self.candidates_in_text(text) if c.reference), None)

    def candidates_in_text(self, text: str) -> list[Candidate]:
        """Every reference-shaped token in a subject or body: people's references (the short code)."""
        return [Candidate(match.group(0), self._verified(match)) for match in self._text.finditer(text or "")]

    def find_in_address(self, address: str) -> Reference | None:
        found = self.candidate_in_address(address)
        return found.reference if found else None

    def candidate_in_address(self, address: str) -> Candidate | None:
        """`local+cw2600042k7.<long code>@domain`; in the older form, `local+cw2600042k7[.more]@domain`."""
        local = (address or "").rsplit("@", 1)[0]
        if "+" not in local:
            return None
        return self._from_tag(local.split("+", 1)[1].split("."), address)

    def find_in_message_ids(self, message_ids: Iterable[str]) -> Reference | None:
        """A verified reference inside one of the Message-IDs the hub generated."""
        return next((c.reference for c in self.candidates_in_message_ids(message_ids) if c.reference), None)

    def candidates_in_message_ids(self, message_ids: Iterable[str]) -> list[Candidate]:
        """`<hub.cw2600042k7.<long code>.<random>@…>`; in the older form, `<hub.cw2600042k7.<random>@…>`."""
        found = []
        for message_id in message_ids:
            left = message_id.strip("<> ").split("@", 1)[0]
            if left.lower().startswith(MESSAGE_ID_MARK):
                candidate = self._from_tag(left[len(MESSAGE_ID_MARK):].split("."), message_id)
                if candidate is not None:
                    found.append(candidate)
        return found

    def _from_tag(self, parts: list[str], written: str) -> Candidate | None:
        match = self._compact.match(parts[0])
        if not match:
            return None
        reference = self._verified(match)
        code = parts[1].lower() if len(parts) > 1 else ""
        if len(code) == TOKEN_LENGTH and set(code) <= TOKEN_ALPHABET:
            keyed = reference is not None and hmac.compare_digest(code, self.token_code(reference))
            return Candidate(written, reference if keyed else None, keyed=True)
        return Candidate(written, reference)

    def token_code(self, reference: Reference) -> str:
        """The long code of the tokens only machines carry."""
        return self._code(f"token:{reference}")

    def _code(self, what: str) -> str:
        digest = hmac.new(self._key, what.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:TOKEN_LENGTH]

    def tag(self, reference: Reference) -> str:
        """The reference as our plus-addresses and Message-IDs carry it: compact form and long code."""
        return f"{reference.compact}.{self.token_code(reference)}"

    def _verified(self, match: re.Match[str]) -> Reference | None:
        candidate = Reference(match.group(1).upper(), int(match.group(2)), int(match.group(3)),
                              match.group(4).upper())
        return candidate if self.verify(candidate) else None

    def bounce_address(self, office_address: str, outbox_id: int) -> str:
        """The envelope sender of outbox row `outbox_id`'s letter."""
        local, domain = office_address.rsplit("@", 1)
        return f"{local}+{BOUNCE_MARK}{outbox_id}.{self._code(f'bounce:{outbox_id}')}@{domain}"

    def outbox_id_in(self, address: str) -> int | None:
        """The outbox row whose envelope sender `address` is, when its long code verifies."""
        local = (address or "").rsplit("@", 1)[0].lower()
        tag = local.split("+", 1)[1] if "+" in local else ""
        if not tag.startswith(BOUNCE_MARK):
            return None
        number, _, code = tag[len(BOUNCE_MARK):].partition(".")
        if not number.isdigit() or len(number) > 12:
            return None
        return int(number) if hmac.compare_digest(code, self._code(f"bounce:{int(number)}")) else None

    def plus_address(self, office_address: str, reference: Reference) -> str:
        local, domain = office_address.rsplit("@", 1)
        return f"{local}+{self.tag(reference)}@{domain}"

    def message_id(self, domain: str, reference: Reference | str | None) -> str:
        """A fresh Message-ID of ours; it carries the case reference (or its text) when there is one."""
        if isinstance(reference, str):
            reference = self.parse(reference)
        tag = self.tag(reference) if reference else "office"
        return f"<{MESSAGE_ID_MARK}{tag}.{secrets.token_hex(8)}@{domain}>"

    def is_own_key(self, key: str) -> bool:
        """True for a compact token (`token_key`) that is one of this office's verified references."""
        match = self._compact.match(key)
        return match is not None and self._verified(match) is not None

    def redact(self, text: str) -> str:
        """Logs keep the sequence but lose the check code, so a log line cannot be used to attach mail."""
        return self._text.sub(lambda m: f"{m.group(1).upper()}-{m.group(2)}-{m.group(3)}-**", text or "")


def token_key(written: str) -> str:
    """The compact form a reference-shaped token is looked up by: `cw2600042k7` for `CW-26-00042-K7` as people
    write it, for the plus-address `casework+cw2600042k7.<code>@…` and for `<hub.cw2600042k7.<code>.<random>@…>`."""
    if "@" in written:
        left = written.strip("<> ").split("@", 1)[0]
        if left.lower().startswith(MESSAGE_ID_MARK):
            left = left[len(MESSAGE_ID_MARK):]
        elif "+" in left:
            left = left.split("+", 1)[1]
        return left.split(".", 1)[0].lower()
    return re.sub(r"[^A-Za-z0-9]", "", written).lower()


def token_keys(texts: Iterable[str], addresses: Iterable[str], message_ids: Iterable[str]) -> list[str]:
    """The compact form of every reference-shaped token, of any office, in a message's texts, its recipients'
    plus-addresses and the Message-IDs a hub generated."""
    keys = [token_key(match.group(0)) for text in texts for match in _ANY_TEXT.finditer(text or "")]
    keys += [token_key(address) for address in addresses if "+" in address.rsplit("@", 1)[0]]
    keys += [token_key(message_id) for message_id in message_ids
             if message_id.strip("<> ").lower().startswith(MESSAGE_ID_MARK)]
    return list(dict.fromkeys(key for key in keys if _ANY_COMPACT.match(key)))[:MAX_TOKEN_KEYS]


def is_our_message_id(message_id: str, domain: str) -> bool:
    """True for a Message-ID the hub generated for this office."""
    left, _, right = message_id.strip("<> ").partition("@")
    return left.lower().startswith(MESSAGE_ID_MARK) and right.lower() == domain.lower()

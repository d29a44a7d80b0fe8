"""Case references: make, find, verify, and redact them in logs.

A reference looks like `CW-26-00042-K7`: the office prefix, the two-digit year, a sequence number
and a two-character check code keyed by the office secret. Without the secret a guessed or mistyped
reference fails verification, so it can never attach a message to somebody else's case.

Where references are found: in text (subject, body; any case, with or without brackets or dashes),
in the plus-part of an address (`casework+cw2600042k7@…`, more may follow after a dot) and inside the
Message-IDs the hub generates (`<hub.cw2600042k7.…@domain>`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# No 0/O, 1/I/L: the code is read aloud over the phone and typed from paper letters.
CHECK_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MESSAGE_ID_MARK = "hub."


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
        return next(self._all_in_text(text), None)

    def _all_in_text(self, text: str) -> Iterator[Reference]:
        for match in self._text.finditer(text or ""):
            found = self._verified(match)
            if found:
                yield found

    def find_in_address(self, address: str) -> Reference | None:
        """`local+cw2600042k7@domain` or `local+cw2600042k7.more@domain`."""
        local = (address or "").rsplit("@", 1)[0]
        if "+" not in local:
            return None
        tag = local.split("+", 1)[1].split(".", 1)[0]
        return self._from_compact(tag)

    def find_in_message_ids(self, message_ids: Iterable[str]) -> Reference | None:
        """A reference inside one of the Message-IDs the hub generated."""
        for message_id in message_ids:
            left = message_id.strip("<> ").split("@", 1)[0]
            if left.lower().startswith(MESSAGE_ID_MARK):
                found = self._from_compact(left[len(MESSAGE_ID_MARK):].split(".", 1)[0])
                if found:
                    return found
        return None

    def _from_compact(self, tag: str) -> Reference | None:
        match = self._compact.match(tag)
        return self._verified(match) if match else None

    def _verified(self, match: re.Match[str]) -> Reference | None:
        candidate = Reference(match.group(1).upper(), int(match.group(2)), int(match.group(3)),
                              match.group(4).upper())
        return candidate if self.verify(candidate) else None

    def plus_address(self, office_address: str, reference: Reference) -> str:
        local, domain = office_address.rsplit("@", 1)
        return f"{local}+{reference.compact}@{domain}"

    def message_id(self, domain: str, reference: Reference | str | None) -> str:
        """A fresh Message-ID of ours; it carries the case reference (or its text) when there is one."""
        if isinstance(reference, str):
            tag = reference.replace("-", "").lower()
        else:
            tag = reference.compact if reference else "office"
        return f"<{MESSAGE_ID_MARK}{tag}.{secrets.token_hex(8)}@{domain}>"

    def redact(self, text: str) -> str:
        """Logs keep the sequence but lose the check code, so a log line cannot be used to attach mail."""
        return self._text.sub(lambda m: f"{m.group(1).upper()}-{m.group(2)}-{m.group(3)}-**", text or "")


def is_our_message_id(message_id: str, domain: str) -> bool:
    """True for a Message-ID the hub generated for this office."""
    left, _, right = message_id.strip("<> ").partition("@")
    return left.lower().startswith(MESSAGE_ID_MARK) and right.lower() == domain.lower()
